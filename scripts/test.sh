#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it. Installs and starts what the
# tests need (setup.sh), checks formatting and vet, then runs every test with
# the race detector against the private MariaDB and Redis.
# Extra arguments go to `go test` (e.g. scripts/test.sh -run TestLookup ./store/).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
source "$VAR/env"
export RINGDESK_TEST_MYSQL_DSN="${RINGDESK_TEST_MYSQL_DSN:-${RINGDESK_MYSQL_DSN%/*}/}"
export RINGDESK_TEST_REDIS_ADDR="${RINGDESK_TEST_REDIS_ADDR:-${RINGDESK_REDIS_ADDRS%%,*}}"

say "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './var/*'))
[ -z "$unformatted" ] || die "not gofmt-formatted: $unformatted (run gofmt -w)"
say "go vet"
go vet ./...

say "go test -race"
if [ $# -gt 0 ]; then
  go test -race -count=1 "$@"
  exit
fi
# The race detector makes the 1,000,000-row import ~20x slower (20 min), so
# under -race that test streams 50,000 rows; the full million runs once,
# without -race, right after (about a minute), still asserting its heap bound.
RINGDESK_IMPORT_ROWS=50000 go test -race -count=1 -timeout 20m ./...
say "1,000,000-row streaming import (without -race)"
RINGDESK_IMPORT_ROWS=1000000 go test -count=1 -timeout 10m -run '^TestImportMillionRows$' -v ./store/ | grep -E '^(=== RUN|--- |\s+import_test|ok|FAIL|PASS)'
exit "${PIPESTATUS[0]}"
