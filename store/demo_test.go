package store_test

import (
	"context"
	"testing"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/store/storetest"
)

func TestSeedDemoSetup(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	created, err := db.SeedDemoSetup(ctx, "ringdesk")
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != len(store.DemoLogins()) {
		t.Fatalf("created %d logins, want %d", len(created), len(store.DemoLogins()))
	}
	for _, l := range store.DemoLogins() {
		u, err := db.Authenticate(ctx, l.Username, l.Password)
		if err != nil {
			t.Fatalf("demo login %s: %v", l.Username, err)
		}
		if u.Role != l.Role {
			t.Errorf("%s role = %s, want %s", l.Username, u.Role, l.Role)
		}
		if l.SIPUsername != "" && u.SIPHA1 != store.SIPHA1(l.SIPUsername, "ringdesk", l.SIPPassword) {
			t.Errorf("%s SIP digest does not match the printed SIP password", l.Username)
		}
	}
	// The demo queue has the three agents as members, and the DID routes to it.
	queues, err := db.FindQueues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(queues) != 1 || queues[0].Name != store.DemoQueue || len(queues[0].Members) != 3 {
		t.Fatalf("demo queues = %+v", queues)
	}
	routes, err := db.FindDIDRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 || routes[0].Number != store.DemoDID || routes[0].Queue != store.DemoQueue {
		t.Fatalf("demo DIDs = %+v", routes)
	}
	again, err := db.SeedDemoSetup(ctx, "ringdesk")
	if err != nil || len(again) != 0 {
		t.Fatalf("second run created %v, %v; want nothing", again, err)
	}
	if q, _ := db.FindQueues(ctx); len(q) != 1 || len(q[0].Members) != 3 {
		t.Errorf("second run changed the demo queue: %+v", q)
	}
	if err := db.SetPassword(ctx, "admin", "changed-by-admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SeedDemoSetup(ctx, "ringdesk"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, "admin", "changed-by-admin"); ringdesk.ErrorCode(err) != "" {
		t.Errorf("re-seeding reset a changed password: %v", err)
	}
}

func TestFindTrunks(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	if _, err := db.SeedDemoSetup(ctx, "ringdesk"); err != nil {
		t.Fatal(err)
	}
	trunks, err := db.FindTrunks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(trunks) != 1 || trunks[0].Name != "demo-loopback" || len(trunks[0].Sources) != 1 ||
		trunks[0].Sources[0].String() != "127.0.0.1/32" || !trunks[0].TrustPAI {
		t.Errorf("demo trunks = %+v", trunks)
	}
}
