package telephony

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
)

// DefaultTransactionLinger is how long serve keeps a completed SIP
// transaction to absorb retransmissions (see SetTransactionLinger).
//
// RFC 3261 and 6026 say 64·T1 = 32 s over UDP; Kamailio's tm keeps 5 s
// (wt_timer). A retransmission that late means the same message was lost
// four times in a row. Meanwhile every call holds its transactions (the
// caller's INVITE, the agent's INVITE, a BYE: ~20 KB), so at 500 calls/s
// 32 s is 16,000 calls' worth, Go's collector marks it all on each cycle,
// and those marks took a core for up to half a second. Measured with
// scripts/bench.sh at 500 calls/s for 60 s (2-core VM, two runs each):
// RSS 1078–1111 → 278–295 MiB, INVITE→pop p99 167–170 → 84–114 ms.
const DefaultTransactionLinger = 5 * time.Second

// procLinger is the process's setting: sipgo's timers are package globals.
var procLinger = &lingerSetting{timers: []*time.Duration{&sip.Timer_J, &sip.Timer_L, &sip.Timer_M}}

// SetTransactionLinger sets, for the whole process, how long a completed
// transaction is kept to answer retransmissions the same way: the INVITE
// server transaction after its 2xx (RFC 6026 Timer L), the INVITE client
// transaction after a 2xx (Timer M) and a non-INVITE server transaction
// after its final response (RFC 3261 Timer J). Over TCP and TLS sipgo
// uses no Timer J, and L and M only hold memory: nothing is retransmitted
// there. d must be 1–32 s. Call it before any server
// starts; a second call with another value is refused (ECONFLICT), since
// transactions already running would not see it.
func SetTransactionLinger(d time.Duration) error {
	return procLinger.set(d)
}

type lingerSetting struct {
	mu     sync.Mutex
	value  time.Duration // the value set, 0 before
	timers []*time.Duration
}

func (l *lingerSetting) set(d time.Duration) error {
	if d < time.Second || d > 32*time.Second {
		return ringdesk.Errorf(ringdesk.EINVALID, "A SIP transaction linger must be between 1s and 32s, not %v.", d)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.value == d {
		return nil
	}
	if l.value != 0 {
		return ringdesk.Errorf(ringdesk.ECONFLICT, "The SIP transaction linger is %v in this process already; it cannot become %v.", l.value, d)
	}
	for _, t := range l.timers {
		*t = d
	}
	l.value = d
	return nil
}
