package cache

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable is wrapped by the errors of [Redis] when Redis cannot be
// reached or cannot serve (connection refused or reset, network timeout,
// closed client, a server that is loading or has no master).
// Callers treat the cache as absent then; test with errors.Is.
var ErrUnavailable = errors.New("redis unavailable")

// Store is a byte cache with per-entry time-to-live. [*Redis] and [*Memory]
// implement it; consumers may declare a smaller interface of their own.
type Store interface {
	// Get returns the value stored under key. A missing or expired key is
	// (nil, false, nil); an error means the store failed, not that the key
	// is absent. The returned slice must not be modified: [Memory] shares it
	// with other readers.
	Get(ctx context.Context, key string) ([]byte, bool, error)

	// Set stores val under key for ttl, replacing any earlier value and
	// expiry. A ttl <= 0 means no expiry. The store keeps its own copy of
	// val, so the caller may reuse it.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error

	// Delete removes keys; keys that do not exist are not an error.
	Delete(ctx context.Context, keys ...string) error

	// DeletePrefix removes every key that starts with prefix (prefix is
	// literal text, not a pattern; "" removes everything the store holds)
	// and returns how many it removed.
	DeletePrefix(ctx context.Context, prefix string) (int, error)

	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
}

// Compile-time checks that both stores satisfy Store.
var (
	_ Store = (*Redis)(nil)
	_ Store = (*Memory)(nil)
)
