// Package pushers holds what the background pushers share: the status an
// operator sees at GET /admin/pushers, a lease in Redis with fencing tokens
// so that one replica at a time does a piece of work, and a dead-letter
// list. Durable work itself is queued in pushers/work; the one retry
// policy is package retry.
//
// The pushers themselves live in sub-packages next to what they drive:
// pushers/stock (ERP balances to the shop) and pushers/orders (shop orders
// into the ERP). Each is a struct with Run(ctx) error that loops until ctx
// ends.
//
// Durable state is kept in Redis under a prefix of its own (cmd/gateway
// uses "gwq:"), apart from the cache's keys: flushing the cache never
// touches work in progress. Redis must not evict these keys (maxmemory-policy
// noeviction or volatile-*, since they carry no TTL while work is pending)
// and should persist (AOF) for "durably recorded" to survive a Redis
// restart.
package pushers

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrUnknown is returned for a pusher name that is not configured.
var ErrUnknown = errors.New("pushers: no such pusher")

// States of a pusher.
const (
	StateRunning = "running" // working through a backlog
	StateIdle    = "idle"    // nothing to do
	StateFailing = "failing" // the last attempt failed; retrying
	StateStandby = "standby" // another replica holds the lease
	StateOff     = "off"     // not configured
)

// Status is one pusher as GET /admin/pushers shows it. Every field but
// State is read from Redis, so every replica reports the same.
type Status struct {
	Name          string
	State         string
	Backlog       int64         // items waiting (including ones being worked on)
	OldestPending time.Duration // age of the oldest waiting item; 0 when none
	LastSuccess   time.Time     // zero when never
	LastError     string        // "" when none since the last success
	LastErrorAt   time.Time
	DeadLetters   int64        // items parked for an operator
	Recent        []DeadLetter // the newest dead letters, at most RecentDeadLetters
	// NotFound counts items a shop reported it does not know (RetailCRM's
	// notFoundOffers) at their last push: reported, not retried.
	NotFound int64
	// NotFoundRecent are the newest of them, "sink: item", at most
	// RecentDeadLetters.
	NotFoundRecent []string
}

// RecentDeadLetters is how many dead letters a Status lists.
const RecentDeadLetters = 20

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Pusher is what the admin API needs of each pusher.
type Pusher interface {
	// Name is the pusher's name in /admin/pushers/{name}.
	Name() string
	// Status reports the pusher's state, read from Redis.
	Status(ctx context.Context) (Status, error)
	// Replay re-drives the pusher: its dead letters go back to work, and
	// whatever else "everything again" means for it (a full stock sweep).
	Replay(ctx context.Context) error
}

// Parker is a Pusher that parks the work it gives up on in a dead-letter
// list (the stock and order pushers, the webhook consumer).
type Parker interface {
	Pusher
	// DeadLetters is the pusher's dead-letter list.
	DeadLetters() *DeadLetters
}

// Registry is the set of configured pushers, in the order shown.
type Registry struct {
	list []Pusher
}

// NewRegistry returns a registry of ps; nil entries are skipped.
func NewRegistry(ps ...Pusher) *Registry {
	r := &Registry{}
	for _, p := range ps {
		if p != nil {
			r.list = append(r.list, p)
		}
	}
	return r
}

// Len is the number of configured pushers.
func (r *Registry) Len() int { return len(r.list) }

// Statuses reports every pusher, in registry order, after dropping the
// dead letters past their retention.
func (r *Registry) Statuses(ctx context.Context) ([]Status, error) {
	out := make([]Status, 0, len(r.list))
	for _, p := range r.list {
		if pk, ok := p.(Parker); ok {
			if _, err := pk.DeadLetters().Prune(ctx); err != nil {
				return nil, fmt.Errorf("pushers: %s dead letters: %w", p.Name(), err)
			}
		}
		st, err := p.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("pushers: %s status: %w", p.Name(), err)
		}
		out = append(out, st)
	}
	return out, nil
}

// DeadLetters returns up to n of the dead letters of the pusher called
// name after the first offset, newest first, and how many it holds (none
// for a pusher that parks nothing). Errors: ErrUnknown for a name that is
// not configured.
func (r *Registry) DeadLetters(ctx context.Context, name string, offset, n int64) ([]DeadLetter, int64, error) {
	p, err := r.find(name)
	if err != nil {
		return nil, 0, err
	}
	pk, ok := p.(Parker)
	if !ok {
		return []DeadLetter{}, 0, nil
	}
	d := pk.DeadLetters()
	total, err := d.Len(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("pushers: %s dead letters: %w", name, err)
	}
	page, err := d.Page(ctx, offset, n)
	if err != nil {
		return nil, 0, fmt.Errorf("pushers: %s dead letters: %w", name, err)
	}
	return page, total, nil
}

// find returns the pusher called name, or ErrUnknown.
func (r *Registry) find(name string) (Pusher, error) {
	for _, p := range r.list {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pushers: %q: %w", name, ErrUnknown)
}

// Replay re-drives the pusher called name and returns its status after.
// Errors: ErrUnknown for a name that is not configured.
func (r *Registry) Replay(ctx context.Context, name string) (Status, error) {
	p, err := r.find(name)
	if err != nil {
		return Status{}, err
	}
	if err := p.Replay(ctx); err != nil {
		return Status{}, fmt.Errorf("pushers: %s replay: %w", name, err)
	}
	return p.Status(ctx)
}
