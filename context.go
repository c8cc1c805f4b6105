package ringdesk

import "context"

// contextKey is unexported so that no other package can read or overwrite
// the values Ringdesk keeps in a context.
type contextKey int

const userContextKey contextKey = iota

// NewContextWithUser returns a copy of ctx that carries the logged-in user.
func NewContextWithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userContextKey, u)
}

// UserFromContext returns the logged-in user of ctx, or nil when nobody is.
func UserFromContext(ctx context.Context) *User {
	u, _ := ctx.Value(userContextKey).(*User)
	return u
}
