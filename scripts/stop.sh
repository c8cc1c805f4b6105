#!/usr/bin/env bash
# stop.sh: stop the private MariaDB and Redis that setup.sh started. Data stays in ./var.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_pid() { # name pidfile
  local pid
  [ -f "$2" ] || return 0
  pid=$(cat "$2" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    say "stopping $1 (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && { say "$1 did not stop in 30 s; killing it"; kill -KILL "$pid"; }
  fi
  rm -f "$2"
}
stop_pid ringdesk "$VAR/run/ringdesk.pid"
stop_pid Redis "$VAR/run/redis.pid"
stop_pid MariaDB "$VAR/run/mysqld.pid"
