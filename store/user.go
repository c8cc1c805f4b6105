package store

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/ringdesk/ringdesk"
)

var _ ringdesk.UserService = (*DB)(nil)

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// hashPassword returns an argon2id hash in the PHC string format, which
// carries its parameters so they can be raised later without a migration.
func hashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword reports whether password matches a PHC argon2id hash.
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<21 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// SIPHA1 returns the digest HA1 = MD5(username:realm:password) of RFC 2617,
// the only form in which SIP passwords are kept.
func SIPHA1(username, realm, password string) string {
	sum := md5.Sum([]byte(username + ":" + realm + ":" + password))
	return hex.EncodeToString(sum[:])
}

func checkNewPassword(what, password string) error {
	if len(password) < ringdesk.MinPasswordLen {
		return ringdesk.Errorf(ringdesk.EINVALID, "The %s must have at least %d characters.", what, ringdesk.MinPasswordLen)
	}
	if len(password) > 256 {
		return ringdesk.Errorf(ringdesk.EINVALID, "The %s is limited to 256 characters.", what)
	}
	return nil
}

const userColumns = `id, username, display_name, role, password_hash, COALESCE(sip_username, '') AS sip_username,
	sip_realm, sip_ha1, disabled, created_at, updated_at`

// CreateUser stores a new user. The SIP password is needed when
// u.SIPUsername is set; only its HA1 for u.SIPRealm is kept.
func (db *DB) CreateUser(ctx context.Context, u *ringdesk.User, password, sipPassword string) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if err := checkNewPassword("password", password); err != nil {
		return err
	}
	if u.SIPUsername != "" {
		if u.SIPRealm == "" {
			return ringdesk.Errorf(ringdesk.EINVALID, "A SIP user name needs a SIP realm.")
		}
		if err := checkNewPassword("SIP password", sipPassword); err != nil {
			return err
		}
		u.SIPHA1 = SIPHA1(u.SIPUsername, u.SIPRealm, sipPassword)
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	u.PasswordHash = hash
	now := db.Now()
	res, err := db.db.ExecContext(ctx, `INSERT INTO users (username, display_name, role, password_hash,
		sip_username, sip_realm, sip_ha1, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.Username, u.DisplayName, u.Role, u.PasswordHash, nullString(u.SIPUsername), u.SIPRealm, u.SIPHA1,
		u.Disabled, now, now)
	if err != nil {
		if ringdesk.ErrorCode(formatError(err, "")) == ringdesk.ECONFLICT {
			return ringdesk.Errorf(ringdesk.ECONFLICT, "User name %q or SIP user name %q is taken.", u.Username, u.SIPUsername)
		}
		return fmt.Errorf("create user: %w", err)
	}
	if u.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	u.CreatedAt, u.UpdatedAt = now, now
	return nil
}

// FindUserByUsername returns a user, disabled or not.
func (db *DB) FindUserByUsername(ctx context.Context, username string) (*ringdesk.User, error) {
	var u ringdesk.User
	err := db.db.GetContext(ctx, &u, `SELECT `+userColumns+` FROM users WHERE username = ?`, username)
	if err != nil {
		return nil, fmt.Errorf("find user %q: %w", username, formatError(err, "User"))
	}
	return &u, nil
}

// FindUserByID returns one user, disabled or not. Returns ENOTFOUND.
func (db *DB) FindUserByID(ctx context.Context, id int64) (*ringdesk.User, error) {
	var u ringdesk.User
	if err := db.db.GetContext(ctx, &u, `SELECT `+userColumns+` FROM users WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("find user %d: %w", id, formatError(err, "User"))
	}
	return &u, nil
}

// FindUserBySIPUsername returns the user whose phone registers as sipUsername.
func (db *DB) FindUserBySIPUsername(ctx context.Context, sipUsername string) (*ringdesk.User, error) {
	var u ringdesk.User
	err := db.db.GetContext(ctx, &u, `SELECT `+userColumns+` FROM users WHERE sip_username = ?`, sipUsername)
	if err != nil {
		return nil, fmt.Errorf("find SIP user %q: %w", sipUsername, formatError(err, "SIP user"))
	}
	return &u, nil
}

// FindUsers lists every user by username.
func (db *DB) FindUsers(ctx context.Context) ([]*ringdesk.User, error) {
	users := []*ringdesk.User{}
	if err := db.db.SelectContext(ctx, &users, `SELECT `+userColumns+` FROM users ORDER BY username`); err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	return users, nil
}

// SetPassword replaces a user's login password.
func (db *DB) SetPassword(ctx context.Context, username, password string) error {
	if err := checkNewPassword("password", password); err != nil {
		return err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	return db.updateUser(ctx, username, `password_hash = ?`, hash)
}

// SetSIPPassword sets a user's SIP user name, realm and password (as HA1).
func (db *DB) SetSIPPassword(ctx context.Context, username, sipUsername, realm, sipPassword string) error {
	if sipUsername == "" {
		sipUsername = username
	}
	if !ringdesk.ValidUsername(sipUsername) {
		return ringdesk.Errorf(ringdesk.EINVALID, "SIP user name %q must be 1–64 lowercase letters, digits, '.', '_' or '-'.", sipUsername)
	}
	if realm == "" {
		return ringdesk.Errorf(ringdesk.EINVALID, "A SIP realm is needed.")
	}
	if err := checkNewPassword("SIP password", sipPassword); err != nil {
		return err
	}
	err := db.updateUser(ctx, username, `sip_username = ?, sip_realm = ?, sip_ha1 = ?`,
		sipUsername, realm, SIPHA1(sipUsername, realm, sipPassword))
	if ringdesk.ErrorCode(formatError(err, "")) == ringdesk.ECONFLICT {
		return ringdesk.Errorf(ringdesk.ECONFLICT, "SIP user name %q is taken.", sipUsername)
	}
	return err
}

// SetDisabled disables or re-enables a login.
func (db *DB) SetDisabled(ctx context.Context, username string, disabled bool) error {
	return db.updateUser(ctx, username, `disabled = ?`, disabled)
}

func (db *DB) updateUser(ctx context.Context, username, set string, args ...any) error {
	args = append(args, db.Now(), username)
	res, err := db.db.ExecContext(ctx, `UPDATE users SET `+set+`, updated_at = ? WHERE username = ?`, args...)
	if err != nil {
		return fmt.Errorf("update user %q: %w", username, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update user %q: %w", username, err)
	} else if n == 0 {
		return ringdesk.Errorf(ringdesk.ENOTFOUND, "User %q not found.", username)
	}
	return nil
}

// dummyHash makes a failed lookup cost as much as a wrong password, so
// timing does not tell which usernames exist.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Q0jMA5Yo9IGIDpDJyNAe5dKfjUuZDu5IePxY+3uwfbU"

// Authenticate returns the enabled user whose password matches.
func (db *DB) Authenticate(ctx context.Context, username, password string) (*ringdesk.User, error) {
	u, err := db.FindUserByUsername(ctx, username)
	if err != nil && ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		return nil, err
	}
	if u == nil {
		checkPassword(dummyHash, password)
		return nil, ringdesk.Errorf(ringdesk.EUNAUTHORIZED, "Wrong user name or password.")
	}
	if !checkPassword(u.PasswordHash, password) || u.Disabled {
		return nil, ringdesk.Errorf(ringdesk.EUNAUTHORIZED, "Wrong user name or password.")
	}
	return u, nil
}
