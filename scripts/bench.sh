#!/usr/bin/env bash
# bench.sh: the benchmarks behind the speed targets, against the private
# MariaDB and Redis (setup.sh). Figures depend on the machine: report them
# with it (nproc, CPU model) and the command.
#   scripts/bench.sh            all
#   scripts/bench.sh lookup     LookupByPhone over 1,000,000 customers (target p99 < 1 ms serial)
#   scripts/bench.sh routing    enqueue+match+confirm+release cycles (matches/s, p99)
#   scripts/bench.sh desk       SendPop → desk receives the pop over Redis
# RINGDESK_BENCH_DSN=user:pass@tcp(host:port)/db keeps the seeded million
# customers between runs (seeding takes about a minute).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
source "$VAR/env"
export RINGDESK_TEST_MYSQL_DSN="${RINGDESK_TEST_MYSQL_DSN:-${RINGDESK_MYSQL_DSN%/*}/}"
export RINGDESK_TEST_REDIS_ADDR="${RINGDESK_TEST_REDIS_ADDR:-${RINGDESK_REDIS_ADDRS%%,*}}"

what=${1:-all}
say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$what" = all ] || [ "$what" = lookup ]; then
  say "LookupByPhone (store)"
  go test -run '^$' -bench 'BenchmarkLookupByPhone' -benchtime 20000x -timeout 30m ./store/
fi
if [ "$what" = all ] || [ "$what" = routing ]; then
  say "routing cycles (routing)"
  go test -run '^$' -bench 'Cycle' -benchtime 40000x -timeout 30m ./routing/
  command -v redis-benchmark >/dev/null && {
    say "redis-benchmark on the same Redis, for scale"
    redis-benchmark -h "${RINGDESK_TEST_REDIS_ADDR%:*}" -p "${RINGDESK_TEST_REDIS_ADDR##*:}" -q -n 100000 -c 50 -t set,get
  }
fi
if [ "$what" = all ] || [ "$what" = desk ]; then
  say "pop to desk (agentdesk)"
  go test -run '^$' -bench 'PopToDesk' -benchtime 2000x ./agentdesk/
fi
