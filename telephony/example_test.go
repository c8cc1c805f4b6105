package telephony_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/telephony"
)

// Example shows how the call flow plugs into the listener: trunk admission
// first, then the caller ID, then the B2BUA (not shown).
func Example() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "telephony")
	srv, err := telephony.NewServer(logger, telephony.Config{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	sources, _ := telephony.ParseSources("203.0.113.0/24", "2001:db8:100::/48")
	trunks, err := telephony.NewTrunkMatcher([]ringdesk.Trunk{
		{Name: "carrier", Sources: sources, TrustPAI: true},
	})
	if err != nil {
		panic(err)
	}
	auth, err := telephony.NewDigestAuth("ringdesk", nil)
	if err != nil {
		panic(err)
	}
	adm := telephony.NewAdmission(trunks, 0, 0, srv.Logger(), nil, telephony.WithDigestAuth(auth))
	var norm ringdesk.PhoneNormalizer // store.NewNormalizer("GB") in cmd/ringdesk

	// Handlers go on before Listen.
	srv.SIP().OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		trunk, ok := adm.Admit(req, tx) // 403 / 401 / silent drop when refused
		if !ok {
			return
		}
		caller := telephony.IdentifyCaller(req, trunk, norm)
		srv.Logger().Info("call offered", "trunk", trunk.Name,
			"caller", telephony.MaskNumber(caller.Number), "anonymous", caller.Anonymous)
		// ... 100 Trying, lookup, queue, B2BUA legs.
	})
	srv.SIP().OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		// The registrar: auth.Username(req), then auth.CheckHA1(req, user, ha1).
	})

	if err := srv.Listen(context.Background(), "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		panic(err)
	}
}
