#!/usr/bin/env bash
# run.sh: set everything up and run Ringdesk with demo data.
#   web on :8080, SIP on :5060 (override with RINGDESK_HTTP_LISTEN etc.)
# Ctrl-C stops Ringdesk; scripts/stop.sh also stops MariaDB and Redis.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
source "$VAR/env"

say "building ringdesk"
mkdir -p "$VAR/bin"
go build -o "$VAR/bin/ringdesk" ./cmd/ringdesk
RD="$VAR/bin/ringdesk"

"$RD" migrate
"$RD" seed --customers "${RINGDESK_DEMO_CUSTOMERS:-2000}" --demo-users

HTTP=${RINGDESK_HTTP_LISTEN:-:8080}
# The demo's phones run on this machine: tell them to reach Ringdesk on
# loopback (set sip.advertise_host for real phones on the network).
export RINGDESK_SIP_ADVERTISE_HOST=${RINGDESK_SIP_ADVERTISE_HOST:-127.0.0.1}
cat <<MSG

Ringdesk is starting with demo data.
  Web:      http://localhost:${HTTP##*:}/   (health: /healthz, metrics: /metrics)
  SIP:      udp/tcp ${RINGDESK_SIP_LISTEN_UDP:-:5060}
  Logins (created on the first run; a password changed since is kept):
            admin / ringdesk-admin      (admin)
            super / ringdesk-super      (supervisor)
            agent1..agent3 / ringdesk-agent   (agents; SIP user 1001..1003, SIP password ringdesk-sip-100N)
  Call:     scripts/demo-call.sh '020 7946 0123'   (another terminal) places a call with sipp and shows
            agent1's screen-pop; var/bin/ringdesk desk agent1 is a terminal desk of your own
  Stop:     Ctrl-C, then scripts/stop.sh to stop MariaDB and Redis too.

MSG
echo $$ >"$VAR/run/ringdesk.pid"
exec "$RD" serve
