# Shared settings for the scripts. Sourced, not run.
# Private instances live under ./var and listen on loopback, non-default ports,
# so they never touch a system MySQL/Redis. Point RINGDESK_MYSQL_DSN /
# RINGDESK_REDIS_ADDRS at existing servers to skip them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR="$ROOT/var"
MYSQL_PORT=${RINGDESK_PRIVATE_MYSQL_PORT:-13306}
REDIS_PORT=${RINGDESK_PRIVATE_REDIS_PORT:-16379}
# InnoDB's buffer pool of the private MariaDB. A call center's customers and
# their phone index should sit in memory: every call looks a caller up at
# random among them (the million-customer bench database is ~1.3 GB). Linux
# gives the pool memory only as pages are used.
MYSQL_BUFFER_POOL=${RINGDESK_PRIVATE_MYSQL_BUFFER_POOL:-2G}
MYSQL_DIR="$VAR/mysql"
MYSQL_SOCK="$VAR/run/mysqld.sock"
REDIS_DIR="$VAR/redis"
REDIS_SOCK="$VAR/run/redis.sock"
PRIVATE_DSN="ringdesk:ringdesk@tcp(127.0.0.1:$MYSQL_PORT)/ringdesk"
PRIVATE_REDIS="127.0.0.1:$REDIS_PORT"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# User-supplied servers, if any (config file keys can also set them; env wins).
uses_own_mysql() { [ -n "${RINGDESK_MYSQL_DSN:-}" ]; }
uses_own_redis() { [ -n "${RINGDESK_REDIS_ADDRS:-}" ]; }
