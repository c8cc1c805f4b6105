#!/usr/bin/env bash
# setup.sh: install what is missing, start private MariaDB and Redis under ./var
# on loopback, wait until they answer, create the database. Idempotent.
# Writes var/env with the RINGDESK_* variables the other scripts source.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
uses_own_mysql || { have mariadbd || have mysqld || need_pkgs+=(mariadb-server); have mariadb || have mysql || need_pkgs+=(mariadb-client); }
uses_own_redis || { have redis-server || need_pkgs+=(redis-server); }
have redis-cli || need_pkgs+=(redis-tools)
have sipp || need_pkgs+=(sip-tester)
have chromium || need_pkgs+=(chromium)
have go || die "Go is not installed: install Go 1.24 or newer from your distribution or go.dev, then run this again."

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    say "installing ${need_pkgs[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    die "missing packages: ${need_pkgs[*]}. On Debian/Ubuntu run: sudo apt-get install ${need_pkgs[*]} (then run this again)."
  fi
fi

mkdir -p "$VAR/run" "$VAR/log" "$VAR/bin"

# A config file (RINGDESK_CONFIG) that names its own MySQL or Redis counts
# like the environment: no private instance for what it names.
if [ -n "${RINGDESK_CONFIG:-}" ]; then
  [ -r "$RINGDESK_CONFIG" ] || die "RINGDESK_CONFIG=$RINGDESK_CONFIG is not a readable file"
  (cd "$ROOT" && go build -o "$VAR/bin/ringdesk" ./cmd/ringdesk)
  from_file() { "$VAR/bin/ringdesk" config --key "$1"; }
  default() { env -u RINGDESK_CONFIG "$VAR/bin/ringdesk" config --key "$1"; }
  if ! uses_own_mysql && [ "$(from_file mysql.dsn)" != "$(default mysql.dsn)" ]; then
    export RINGDESK_MYSQL_DSN=$(from_file mysql.dsn)
  fi
  if ! uses_own_redis && [ "$(from_file redis.addrs)" != "$(default redis.addrs)" ]; then
    export RINGDESK_REDIS_ADDRS=$(from_file redis.addrs)
  fi
fi

mysql_up() { mariadb-admin --no-defaults --protocol=socket -S "$MYSQL_SOCK" -uroot ping >/dev/null 2>&1; }
start_mysql() {
  if mysql_up; then return; fi
  local mysqld; mysqld=$(command -v mariadbd || command -v mysqld || true)
  [ -x "$mysqld" ] || mysqld=/usr/sbin/mariadbd
  if [ ! -d "$MYSQL_DIR/mysql" ]; then
    say "initialising MariaDB data in $MYSQL_DIR"
    mkdir -p "$MYSQL_DIR"
    mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$MYSQL_DIR" \
      --auth-root-authentication-method=socket --skip-test-db >"$VAR/log/mariadb-install.log" 2>&1 \
      || { cat "$VAR/log/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
  fi
  say "starting MariaDB on 127.0.0.1:$MYSQL_PORT"
  # setsid: the server outlives this script and is not hit by the caller's Ctrl-C.
  setsid "$mysqld" --no-defaults --user="$(id -un)" --datadir="$MYSQL_DIR" \
    --socket="$MYSQL_SOCK" --pid-file="$VAR/run/mysqld.pid" \
    --port="$MYSQL_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size="$MYSQL_BUFFER_POOL" --innodb-log-file-size=256M \
    --innodb-flush-log-at-trx-commit=2 --max-connections=500 \
    --log-error="$VAR/log/mariadb.log" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 120); do mysql_up && break; sleep 0.5; done
  mysql_up || { tail -n 30 "$VAR/log/mariadb.log" >&2; die "MariaDB did not answer within 60 s"; }
}
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
start_redis() {
  if redis_up; then return; fi
  mkdir -p "$REDIS_DIR"
  say "starting Redis on 127.0.0.1:$REDIS_PORT"
  # AOF (the routing state must survive a restart). A rewrite forks Redis
  # and takes a core for ~0.2 s: with the default 64mb threshold the call
  # path (~10 KB of AOF per call) rewrote every ~13 s at 500 calls/s, each
  # time a window of slow screen-pops; at 512mb it is every ~100 s, and a
  # restart replays at most that much.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" \
    --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
    --appendonly yes --auto-aof-rewrite-min-size 512mb --save '' --daemonize yes --pidfile "$VAR/run/redis.pid" \
    --logfile "$VAR/log/redis.log" >/dev/null
  for _ in $(seq 1 60); do redis_up && break; sleep 0.25; done
  redis_up || { tail -n 30 "$VAR/log/redis.log" >&2; die "Redis did not answer within 15 s"; }
}

if uses_own_mysql; then
  say "using your MySQL (RINGDESK_MYSQL_DSN or the config file)"
  DSN=$RINGDESK_MYSQL_DSN
else
  start_mysql
  # The test helper creates and drops one database per package, so the
  # private user may create databases. Only on the private, loopback instance.
  mariadb --no-defaults --protocol=socket -S "$MYSQL_SOCK" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS ringdesk CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'ringdesk'@'127.0.0.1' IDENTIFIED BY 'ringdesk';
CREATE USER IF NOT EXISTS 'ringdesk'@'localhost' IDENTIFIED BY 'ringdesk';
GRANT ALL PRIVILEGES ON *.* TO 'ringdesk'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'ringdesk'@'localhost';
SQL
  DSN=$PRIVATE_DSN
fi
if uses_own_redis; then
  say "using your Redis (RINGDESK_REDIS_ADDRS or the config file)"
  REDIS=$RINGDESK_REDIS_ADDRS
else
  start_redis
  REDIS=$PRIVATE_REDIS
fi

cat >"$VAR/env" <<ENV
export RINGDESK_MYSQL_DSN='$DSN'
export RINGDESK_REDIS_ADDRS='$REDIS'
ENV
say "MariaDB and Redis are up (settings in var/env)"
