package telephony

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
)

// TestTransactionLinger: the setting reaches every timer it names, refuses
// values out of range and, once set, any other value; the same value again
// is fine. (A setting of its own: the process's is global.)
func TestTransactionLinger(t *testing.T) {
	j, l, m := 32*time.Second, 32*time.Second, 32*time.Second
	s := &lingerSetting{timers: []*time.Duration{&j, &l, &m}}
	for _, bad := range []time.Duration{0, -time.Second, 999 * time.Millisecond, 33 * time.Second} {
		if err := s.set(bad); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
			t.Errorf("linger %v: %v, want EINVALID", bad, err)
		}
	}
	if j != 32*time.Second {
		t.Fatalf("a refused value changed the timer: %v", j)
	}
	if err := s.set(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if j != 5*time.Second || l != 5*time.Second || m != 5*time.Second {
		t.Errorf("timers J, L, M = %v %v %v, want 5s", j, l, m)
	}
	if err := s.set(5 * time.Second); err != nil {
		t.Errorf("the same value again: %v", err)
	}
	if err := s.set(10 * time.Second); ringdesk.ErrorCode(err) != ringdesk.ECONFLICT || j != 5*time.Second {
		t.Errorf("another value: %v (J %v), want ECONFLICT and J unchanged", err, j)
	}
	// The process's setting names sipgo's timers.
	if got := procLinger.timers; len(got) != 3 || got[0] != &sip.Timer_J || got[1] != &sip.Timer_L || got[2] != &sip.Timer_M {
		t.Errorf("the process setting does not name sipgo's Timer J, L and M")
	}
}
