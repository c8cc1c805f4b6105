package store

import (
	"context"
	"fmt"

	"github.com/ringdesk/ringdesk"
)

// DemoLogin is one login created by SeedDemoSetup.
type DemoLogin struct {
	Username, Password, Role string
	SIPUsername, SIPPassword string
}

// DemoLogins are the logins of the demo: printed by scripts/run.sh, so
// their passwords are public. Never use them outside a demo.
func DemoLogins() []DemoLogin {
	return []DemoLogin{
		{Username: "admin", Password: "ringdesk-admin", Role: ringdesk.RoleAdmin},
		{Username: "super", Password: "ringdesk-super", Role: ringdesk.RoleSupervisor},
		{Username: "agent1", Password: "ringdesk-agent", Role: ringdesk.RoleAgent, SIPUsername: "1001", SIPPassword: "ringdesk-sip-1001"},
		{Username: "agent2", Password: "ringdesk-agent", Role: ringdesk.RoleAgent, SIPUsername: "1002", SIPPassword: "ringdesk-sip-1002"},
		{Username: "agent3", Password: "ringdesk-agent", Role: ringdesk.RoleAgent, SIPUsername: "1003", SIPPassword: "ringdesk-sip-1003"},
	}
}

// DemoDID is the number the demo's queue answers, and the demo trunk's source.
const (
	DemoDID       = "+442079460000"
	DemoQueue     = "support"
	DemoTrunkCIDR = "127.0.0.1/32"
)

// SeedDemoSetup creates the demo logins, a "support" queue with the agents
// as members, a DID that routes to it, and a trunk trusted from loopback
// (so scripts/demo-call.sh can place calls). Existing rows are left as they
// are, so running it again changes nothing. It returns the logins created.
func (db *DB) SeedDemoSetup(ctx context.Context, realm string) ([]DemoLogin, error) {
	var created []DemoLogin
	for _, l := range DemoLogins() {
		if _, err := db.FindUserByUsername(ctx, l.Username); err == nil {
			continue
		} else if ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			return nil, err
		}
		u := &ringdesk.User{Username: l.Username, Role: l.Role, DisplayName: "Demo " + l.Username, SIPUsername: l.SIPUsername}
		if l.SIPUsername != "" {
			u.SIPRealm = realm
		}
		if err := db.CreateUser(ctx, u, l.Password, l.SIPPassword); err != nil {
			return nil, fmt.Errorf("demo user %s: %w", l.Username, err)
		}
		created = append(created, l)
	}
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("demo setup: %w", err)
	}
	defer tx.Rollback()
	now := db.Now()
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT IGNORE INTO queues (name, display_name, created_at, updated_at) VALUES (?, 'Customer support', ?, ?)`,
			[]any{DemoQueue, now, now}},
		{`INSERT IGNORE INTO queue_members (queue_id, user_id, skill_level)
			SELECT q.id, u.id, 0 FROM queues q JOIN users u ON u.role = 'agent' AND u.username LIKE 'agent%'
			WHERE q.name = ?`, []any{DemoQueue}},
		{`INSERT IGNORE INTO dids (number, queue_id, description, created_at)
			SELECT ?, id, 'Demo support line', ? FROM queues WHERE name = ?`, []any{DemoDID, now, DemoQueue}},
		{`INSERT IGNORE INTO trunks (name, source_cidr, trust_pai, created_at, updated_at)
			VALUES ('demo-loopback', ?, TRUE, ?, ?)`, []any{DemoTrunkCIDR, now, now}},
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.sql, s.args...); err != nil {
			return nil, fmt.Errorf("demo setup: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("demo setup: %w", err)
	}
	return created, nil
}
