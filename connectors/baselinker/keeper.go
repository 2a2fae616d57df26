package baselinker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers"
)

// kept is one value that is expensive to build (the product catalogue
// costs one ERP call per article the first time), kept in the cache store
// for every replica. A read serves what is stored while it is fresh; past
// that it serves it stale and starts a refresh; before the first build it
// waits a bounded time. A build runs detached from the request that
// started it, under erp.Background, at most one per value in this process
// and, with Redis, one across replicas (a lease renewed while it runs).
//
// It is the connector's one caching type: moving to the cache package's
// engine changes this file only.
type kept[T any] struct {
	name   string
	key    string // store key of the value; key+":built" holds its stamp
	store  Store
	leases leaser // nil: this process alone
	// fresh is how long v is served without a refresh.
	fresh func(v *T) time.Duration
	keep  time.Duration // how long the store keeps it
	// build makes a new value from the old one (nil at first), telling
	// progress; it runs under bg with the ERP's Background class.
	build func(ctx context.Context, old *T, progress func(done, total int)) (*T, error)
	bg    context.Context
	log   *slog.Logger
	now   func() time.Time

	mu          sync.Mutex
	local       *T        // the last value read or built here
	localAt     time.Time // its build time
	running     chan struct{}
	done, total int
	failedAt    time.Time // of the last failed build here
	failure     error
}

// Build pacing.
const (
	buildLimit   = time.Hour        // the longest one build may run
	retryBuild   = 30 * time.Second // after a failed build, the next waits this long
	leaseTTL     = 30 * time.Second // a build lease, renewed every third of it
	pollInterval = 250 * time.Millisecond
)

// envelope is what the store holds.
type envelope[T any] struct {
	Built time.Time `json:"built"`
	Value *T        `json:"value"`
}

// peek returns the stored value and its build time without starting a
// build; nil when there is none. When the store fails it serves the copy
// this process holds.
func (k *kept[T]) peek(ctx context.Context) (*T, time.Time) {
	k.mu.Lock()
	local, localAt := k.local, k.localAt
	k.mu.Unlock()
	stamp, ok, err := k.store.Get(ctx, k.key+":built")
	if err != nil {
		return local, localAt
	}
	if !ok {
		return nil, time.Time{}
	}
	ns, _ := strconv.ParseInt(string(stamp), 10, 64)
	if local != nil && ns == localAt.UnixNano() {
		return local, localAt
	}
	b, ok, err := k.store.Get(ctx, k.key)
	if err != nil || !ok {
		return local, localAt
	}
	var env envelope[T]
	if json.Unmarshal(b, &env) != nil || env.Value == nil {
		return local, localAt
	}
	k.mu.Lock()
	if k.local == nil || !env.Built.Before(k.localAt) {
		k.local, k.localAt = env.Value, env.Built
	}
	k.mu.Unlock()
	return env.Value, env.Built
}

// get returns the value: fresh, stale (a refresh started), or built now,
// waiting at most wait (and not past ctx). Before any value exists it
// answers *errLoading, or the failure of the last build.
func (k *kept[T]) get(ctx context.Context, wait time.Duration) (*T, error) {
	if v, at := k.peek(ctx); v != nil {
		if k.now().Sub(at) >= k.fresh(v) {
			k.start()
		}
		return v, nil
	}
	deadline := time.Now().Add(wait) // a wait in real time, whatever the clock of the data
	if d, ok := ctx.Deadline(); ok && d.Add(-time.Second).Before(deadline) {
		deadline = d.Add(-time.Second)
	}
	for {
		ch := k.start()
		t := time.NewTimer(pollInterval)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if v, _ := k.peek(ctx); v != nil {
			return v, nil
		}
		k.mu.Lock()
		failure, done, total, running := k.failure, k.done, k.total, k.running != nil
		k.mu.Unlock()
		if failure != nil && !running {
			return nil, failure
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, &errLoading{what: k.name, done: done, total: total}
		}
	}
}

// start begins a build unless one runs here or failed a moment ago; it
// returns a channel closed when the build ends (nil when none started).
func (k *kept[T]) start() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.running != nil {
		return k.running
	}
	if !k.failedAt.IsZero() && k.now().Sub(k.failedAt) < retryBuild {
		return nil
	}
	ch := make(chan struct{})
	k.running, k.done, k.total = ch, 0, 0
	go k.run(ch)
	return ch
}

// run builds a new value, under the lease when there are replicas, and
// publishes it.
func (k *kept[T]) run(ch chan struct{}) {
	ctx, cancel := context.WithTimeout(erp.WithClass(k.bg, erp.Background), buildLimit)
	defer cancel()
	err := k.leased(ctx, cancel)
	k.mu.Lock()
	if err != nil && !errors.Is(err, errLeaseHeld) {
		k.failedAt, k.failure = k.now(), err
	} else if err == nil {
		k.failedAt, k.failure = time.Time{}, nil
	}
	k.running = nil
	k.mu.Unlock()
	close(ch)
}

// errLeaseHeld: another replica builds the value.
var errLeaseHeld = errors.New("baselinker: another replica is building it")

// leased runs one build while holding the build lease.
func (k *kept[T]) leased(ctx context.Context, cancel context.CancelFunc) error {
	if k.leases != nil {
		l := k.leases.lease(k.name)
		tok, err := l.Acquire(ctx, 0)
		if err != nil {
			return err
		}
		if tok == 0 {
			return errLeaseHeld
		}
		defer func() {
			rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = l.Release(rctx, tok)
			stop()
		}()
		go func() { // renew; a lost lease ends the build
			t := time.NewTicker(leaseTTL / 3)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if got, err := l.Acquire(ctx, tok); err == nil && got != tok {
						cancel()
						return
					}
				}
			}
		}()
	}
	old, at := k.peek(ctx)
	if old != nil && k.now().Sub(at) < k.fresh(old) {
		return nil // built a moment ago, here or by another replica
	}
	wall := time.Now()
	v, err := k.build(ctx, old, func(done, total int) {
		k.mu.Lock()
		k.done, k.total = done, total
		k.mu.Unlock()
	})
	if err != nil {
		k.log.Warn("baselinker: building failed", "what", k.name, "err", err)
		return err
	}
	built := k.now()
	k.mu.Lock()
	k.local, k.localAt = v, built
	k.mu.Unlock()
	b, err := json.Marshal(envelope[T]{Built: built, Value: v})
	if err == nil {
		err = k.store.Set(ctx, k.key, b, k.keep)
	}
	if err == nil {
		err = k.store.Set(ctx, k.key+":built", []byte(strconv.FormatInt(built.UnixNano(), 10)), k.keep)
	}
	if err != nil {
		k.log.Warn("baselinker: keeping the built value failed; serving it from this replica", "what", k.name, "err", err)
	}
	level := slog.LevelDebug // the stock, every minute while Baselinker asks
	if old == nil || time.Since(wall) > time.Second {
		level = slog.LevelInfo
	}
	k.log.Log(ctx, level, "baselinker: built", "what", k.name, "took", time.Since(wall).Round(time.Millisecond).String())
	return nil
}

// leaser hands out the build leases shared by the replicas.
type leaser interface {
	lease(name string) buildLease
}

// buildLease is pushers.Lease as kept uses it.
type buildLease interface {
	Acquire(ctx context.Context, token int64) (int64, error)
	Release(ctx context.Context, token int64) error
}

// redisLeases are build leases in Redis, under the connector's prefix.
type redisLeases struct {
	rdb    redis.UniversalClient
	prefix string
}

func (l redisLeases) lease(name string) buildLease {
	return pushers.NewLease(l.rdb, l.prefix+"{bl}:build:"+name, leaseTTL)
}
