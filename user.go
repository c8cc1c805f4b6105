package ringdesk

import (
	"context"
	"regexp"
	"time"
)

// User roles. A supervisor can do what an agent can; an admin what both can.
const (
	RoleAgent      = "agent"
	RoleSupervisor = "supervisor"
	RoleAdmin      = "admin"
)

// User is a person who logs in to Ringdesk. Agents also have SIP credentials
// for their phone; only the digest HA1 is kept, never the SIP password.
type User struct {
	ID           int64     `json:"id" db:"id"`
	Username     string    `json:"username" db:"username"`
	DisplayName  string    `json:"display_name" db:"display_name"`
	Role         string    `json:"role" db:"role"`
	PasswordHash string    `json:"-" db:"password_hash"`
	SIPUsername  string    `json:"sip_username" db:"sip_username"`
	SIPRealm     string    `json:"sip_realm" db:"sip_realm"`
	SIPHA1       string    `json:"-" db:"sip_ha1"`
	Disabled     bool      `json:"disabled" db:"disabled"`
	CreatedAt    time.Time `json:"created_at" db:"created_at"`
	UpdatedAt    time.Time `json:"updated_at" db:"updated_at"`
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidUsername reports whether name may be a login or SIP user name.
func ValidUsername(name string) bool { return usernameRE.MatchString(name) }

// Validate checks a user's fields.
func (u *User) Validate() error {
	if !ValidUsername(u.Username) {
		return Errorf(EINVALID, "Username %q must be 1–64 lowercase letters, digits, '.', '_' or '-'.", u.Username)
	}
	switch u.Role {
	case RoleAgent, RoleSupervisor, RoleAdmin:
	default:
		return Errorf(EINVALID, "Role %q is not one of agent, supervisor, admin.", u.Role)
	}
	if u.SIPUsername != "" && !ValidUsername(u.SIPUsername) {
		return Errorf(EINVALID, "SIP username %q must be 1–64 lowercase letters, digits, '.', '_' or '-'.", u.SIPUsername)
	}
	if len(u.DisplayName) > 200 {
		return Errorf(EINVALID, "Display name is limited to 200 characters.")
	}
	return nil
}

// MinPasswordLen is the shortest login or SIP password accepted.
const MinPasswordLen = 8

// UserService keeps users and their credentials.
type UserService interface {
	// CreateUser stores u with the given login password (and SIP password,
	// when u.SIPUsername is set). Returns EINVALID for bad fields or a short
	// password, ECONFLICT for a taken username.
	CreateUser(ctx context.Context, u *User, password, sipPassword string) error
	// FindUserByUsername returns ENOTFOUND for an unknown username.
	FindUserByUsername(ctx context.Context, username string) (*User, error)
	// FindUserByID returns ENOTFOUND for an unknown id.
	FindUserByID(ctx context.Context, id int64) (*User, error)
	// FindUserBySIPUsername returns the user whose phone registers as
	// sipUsername. Returns ENOTFOUND.
	FindUserBySIPUsername(ctx context.Context, sipUsername string) (*User, error)
	// FindUsers lists every user, disabled ones included, by username.
	FindUsers(ctx context.Context) ([]*User, error)
	// SetPassword replaces the login password. Returns ENOTFOUND, EINVALID.
	SetPassword(ctx context.Context, username, password string) error
	// SetSIPPassword sets the SIP digest credentials of a user: the SIP user
	// name (the login name when empty), realm and password.
	// Returns ENOTFOUND, EINVALID, ECONFLICT for a SIP user name in use.
	SetSIPPassword(ctx context.Context, username, sipUsername, realm, sipPassword string) error
	// SetDisabled disables or re-enables a login. Returns ENOTFOUND.
	SetDisabled(ctx context.Context, username string, disabled bool) error
	// Authenticate returns the enabled user whose password matches.
	// Returns EUNAUTHORIZED for any mismatch, without saying which part.
	Authenticate(ctx context.Context, username, password string) (*User, error)
}
