package ringdesk

import "context"

// Pinger is a dependency whose health can be checked: MySQL, Redis.
type Pinger interface {
	// Ping returns nil when the dependency answers, EUNAVAILABLE otherwise.
	Ping(ctx context.Context) error
}
