#!/usr/bin/env bash
# bench.sh: the benchmarks behind the speed targets, against the private
# MariaDB and Redis (setup.sh). Figures depend on the machine: report them
# with it (nproc, CPU model) and the command.
#   scripts/bench.sh            all
#   scripts/bench.sh lookup     LookupByPhone over 1,000,000 customers (target p99 < 1 ms serial)
#   scripts/bench.sh routing    enqueue+match+confirm+release cycles (matches/s, p99)
#   scripts/bench.sh desk       SendPop → desk receives the pop over Redis
#   scripts/bench.sh callpath   the whole call path of `ringdesk serve` under sipp
#                               load at rising rates, then Kamailio for scale
#                               (targets: ≥ 1,000 calls/s with 0 failed and every
#                               call logged; INVITE→pop p99 < 20 ms at 500 calls/s)
#   scripts/bench.sh redis-cost Redis's own work per routing cycle, counted in CPU
#                               instructions (valgrind's callgrind, installed with
#                               apt-get when root) on a private redis-server: the
#                               same count on any day, where timings move with the
#                               machine's other load. Not part of "all" (2-3 min).
# RINGDESK_BENCH_DSN=user:pass@tcp(host:port)/db keeps the seeded million
# customers between runs (seeding takes about a minute).
#
# callpath settings (environment; `var/bin/ringdesk-bench callpath -h` lists all):
#   BENCH_QUICK=1         10,000 customers, 20 agents, two short steps (a smoke run)
#   BENCH_AGENTS=300      agents: sipp phones and desk clients
#   BENCH_HOLD=100ms      talk time before the agent hangs up
#   BENCH_RATES=50,100,…  calls/s of the steps (each BENCH_STEP_TIME=10s, at most
#                         BENCH_STEP_MAX_CALLS=20000 calls); stops at the first failure
#   BENCH_DSN             the bench database (default: ringdesk_callbench on the
#                         MySQL of var/env), created, seeded once and kept; its
#                         call log is emptied and given a fixed history each run
#   BENCH_NO_KAMAILIO=1   skip Kamailio (else installed with apt-get when root)
#   BENCH_MAX_PROCS=N     ringdesk's runtime.max_procs (default: half the CPUs, at
#                         least 1: it shares the machine with the servers and sipp)
# It writes var/bench/callpath-TIME.json, a work directory beside it (logs, sipp
# statistics, CPU profiles) and prints a table.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
source "$VAR/env"
export RINGDESK_TEST_MYSQL_DSN="${RINGDESK_TEST_MYSQL_DSN:-${RINGDESK_MYSQL_DSN%/*}/}"
export RINGDESK_TEST_REDIS_ADDR="${RINGDESK_TEST_REDIS_ADDR:-${RINGDESK_REDIS_ADDRS%%,*}}"

# have_or_install CMD PKG WHY: true when CMD is there, after installing
# PKG with apt-get if it was missing and this runs as root; false otherwise.
have_or_install() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  say "installing $2 with apt-get ($3)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  command -v "$1" >/dev/null 2>&1
}

what=${1:-all}
case "$what" in all|lookup|routing|desk|callpath|redis-cost) ;; *) die "unknown benchmark $what (lookup, routing, desk, callpath, redis-cost)";; esac
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
    case "$RINGDESK_TEST_REDIS_ADDR" in
      /*) where=(-s "$RINGDESK_TEST_REDIS_ADDR") ;;
      *) where=(-h "${RINGDESK_TEST_REDIS_ADDR%:*}" -p "${RINGDESK_TEST_REDIS_ADDR##*:}") ;;
    esac
    redis-benchmark "${where[@]}" -q -n 100000 -c 50 -t set,get
  }
fi
if [ "$what" = all ] || [ "$what" = desk ]; then
  say "pop to desk (agentdesk)"
  go test -run '^$' -bench 'PopToDesk' -benchtime 2000x ./agentdesk/
fi
if [ "$what" = all ] || [ "$what" = callpath ]; then
  say "call path: ringdesk serve under sipp load (ringdesk-bench callpath)"
  kamailio_bin=""
  if [ -z "${BENCH_NO_KAMAILIO:-}" ]; then
    if ! command -v kamailio >/dev/null 2>&1 && [ -x /usr/sbin/kamailio ]; then PATH="$PATH:/usr/sbin"; fi
    have_or_install kamailio kamailio "the scale for the call path" ||
      say "kamailio is missing (sudo apt-get install kamailio): the Kamailio run is skipped"
    kamailio_bin=$(command -v kamailio || true)
  fi
  mkdir -p "$VAR/bin"
  go build -o "$VAR/bin/ringdesk" ./cmd/ringdesk
  go build -o "$VAR/bin/ringdesk-bench" ./cmd/ringdesk-bench
  db=ringdesk_callbench
  [ "${BENCH_QUICK:-}" = 1 ] && db=ringdesk_callbench_quick
  BENCH_DSN=${BENCH_DSN:-${RINGDESK_MYSQL_DSN%/*}/$db} \
  BENCH_REDIS=${BENCH_REDIS:-${RINGDESK_REDIS_ADDRS%%,*}} \
  BENCH_KAMAILIO=${BENCH_KAMAILIO:-$kamailio_bin} \
  BENCH_RINGDESK="$VAR/bin/ringdesk" BENCH_OUT="${BENCH_OUT:-$VAR/bench}" \
    "$VAR/bin/ringdesk-bench" callpath &
  # The driver stops everything it started (serve, sipp, kamailio, desks)
  # on TERM/INT and still writes its report; its children die with it.
  bench_pid=$!
  trap 'kill -TERM $bench_pid 2>/dev/null || true; wait $bench_pid || true' INT TERM
  wait $bench_pid
  trap - INT TERM
  # The hottest functions of ringdesk at the highest rate profiled.
  run_dir=$(ls -td "${BENCH_OUT:-$VAR/bench}"/callpath-*/ 2>/dev/null | head -n 1 || true)
  prof=""
  [ -n "$run_dir" ] && prof=$(ls -t "$run_dir"ringdesk-*cps.pprof 2>/dev/null | head -n 1 || true)
  if [ -n "$prof" ] && [ -s "$prof" ]; then
    say "ringdesk CPU profile $prof (top 25 by cumulative time)"
    go tool pprof -top -cum -nodecount=25 "$VAR/bin/ringdesk" "$prof" 2>/dev/null | sed -n '1,35p'
  fi
fi

if [ "$what" = redis-cost ]; then
  say "Redis instructions per routing cycle (callgrind)"
  have_or_install valgrind valgrind "it counts Redis's instructions" ||
    die "valgrind is missing: sudo apt-get install valgrind (then run this again)"
  port=${RINGDESK_COST_REDIS_PORT:-16390}
  work="$VAR/redis-cost"
  mkdir -p "$work" "$VAR/bin"
  go test -c -o "$VAR/bin/routing.test" ./routing/
  # count N runs BenchmarkCycle/SUB for N cycles (GOMAXPROCS=PROCS) against a
  # fresh redis-server under callgrind, AOF on as setup.sh runs it, and prints
  # the server's instructions and its AOF's bytes.
  count() {
    local sub=$1 procs=$2 n=$3 dir="$work/run" pid ir aof
    rm -rf "$dir" && mkdir -p "$dir"
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" redis-server --port "$port" \
      --bind 127.0.0.1 --dir "$dir" --appendonly yes --save '' >"$dir/valgrind.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 150); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || { kill "$pid" 2>/dev/null; die "redis-server under valgrind did not answer"; }
    (cd routing && GOMAXPROCS=$procs BENCH_TICK=1h RINGDESK_TEST_REDIS_ADDR="127.0.0.1:$port" \
      "$VAR/bin/routing.test" -test.run '^$' -test.bench "^BenchmarkCycle/$sub\$" -test.benchtime "${n}x" >"$dir/bench.log" 2>&1) ||
      { redis-cli -p "$port" shutdown nosave >/dev/null 2>&1; cat "$dir/bench.log" >&2; die "BenchmarkCycle/$sub failed"; }
    aof=$(cat "$dir"/appendonlydir/*.incr.aof | wc -c)
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait "$pid" || true
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dir/callgrind.out")
    echo "$ir $aof"
  }
  # Each figure is the difference of two runs (N2 − N1 cycles), which
  # cancels the setup (queue, agents, scripts loaded); ticks are an hour
  # apart, so the counted work is the cycles'.
  for spec in "Closed/p1 1 300 1300 one operation per script run" "Closed/p16 2 1000 4000 batched"; do
    read -r sub procs n1 n2 label <<<"$spec"
    read -r ir1 aof1 <<<"$(count "$sub" "$procs" "$n1")"
    read -r ir2 aof2 <<<"$(count "$sub" "$procs" "$n2")"
    printf '  %-11s %-30s %9d instructions/cycle  %6d AOF bytes/cycle\n' "$sub" "($label)" \
      $(( (ir2 - ir1) / (n2 - n1) )) $(( (aof2 - aof1) / (n2 - n1) ))
  done
  rm -rf "$work/run"
fi
