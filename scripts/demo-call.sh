#!/usr/bin/env bash
# demo-call.sh NUMBER: place one call into the running demo (scripts/run.sh)
# and watch it arrive. It starts, all on loopback:
#   - a terminal desk for agent1 (ringdesk desk agent1), logged in ready;
#   - a sipp phone that registers as agent1's SIP user 1001 and answers;
#   - a sipp trunk caller (from 127.0.0.1, the demo trunk) calling the demo
#     DID with NUMBER as its caller ID, hanging up after a few seconds.
# The desk's screen-pop is printed at the end. Try a seeded number (shown by
# `ringdesk import`/the seed, e.g. one from `ringdesk config` region), an
# unknown one, or "anonymous".
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
number=${1:-}
[ -n "$number" ] || die "usage: scripts/demo-call.sh NUMBER   (e.g. scripts/demo-call.sh '020 7946 0123')"
[ -f "$VAR/env" ] || die "the demo is not set up: run scripts/run.sh first (in another terminal)"
source "$VAR/env"
command -v sipp >/dev/null || die "sipp is missing: run scripts/setup.sh (Debian package sip-tester)"
RD="$VAR/bin/ringdesk"
[ -x "$RD" ] || go build -o "$RD" ./cmd/ringdesk
http=$("$RD" config --key http.listen); port=${http##*:}
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 || die "Ringdesk does not answer on :$port: start it with scripts/run.sh"
sip=$("$RD" config --key sip.listen_udp); sipport=${sip##*:}
did=$(grep -o 'DemoDID *= *"[^"]*"' store/demo.go | cut -d'"' -f2)
sf="$ROOT/telephony/testdata/sipp"
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "agent1's desk (terminal)"
"$RD" desk agent1 >"$work/desk.log" 2>&1 &
sleep 1

say "agent1's phone registers as 1001 and waits for the call"
pport=$(free_port)
(cd "$work" && sipp -sf "$sf/agent_register.xml" -t u1 -i 127.0.0.1 -p "$pport" -m 1 -s 1001 -au 1001 -ap ringdesk-sip-1001 \
  -auth_uri "127.0.0.1:$sipport" -timeout 10s -timeout_error -nostdin "127.0.0.1:$sipport" >/dev/null) \
  || die "the phone could not register (is agent1's SIP password still ringdesk-sip-1001?)"
(cd "$work" && sipp -sf "$sf/agent_answer.xml" -t u1 -i 127.0.0.1 -p "$pport" -m 1 -d 2000 -timeout 60s -nostdin >/dev/null 2>&1) &

say "calling $did from $number"
(cd "$work" && sipp -sf "$sf/trunk_call.xml" -t u1 -i 127.0.0.1 -p "$(free_port)" -m 1 -d 4000 \
  -key caller "$number" -key did "$did" -timeout 60s -timeout_error -nostdin "127.0.0.1:$sipport" >"$work/caller.log" 2>&1) \
  && say "the call was answered by the agent's phone and hung up" \
  || { say "the call did not complete as expected:"; tail -n 20 "$work/caller.log" >&2; }
sleep 1
echo
echo "---- agent1's desk ----"
cat "$work/desk.log"
