// Package erpguard protects Extend Commerce from the gateway, and the
// gateway from a failing Extend Commerce. A Guard is an http.RoundTripper
// that the ERP client's http.Client uses (erp.Config.HTTPClient); every
// attempt the client makes passes, in this order:
//
//  1. the host check: only the configured ERP host is ever called;
//  2. the circuit breaker (github.com/sony/gobreaker/v2): after a run of
//     failures (5xx, 408, timeouts, broken connections; never a 4xx such
//     as a 404, never a 429) it opens and refuses every call for OpenFor,
//     then lets one probe through and closes again when it succeeds;
//  3. the rate limit of the call's Extend rate-limit group
//     (erp.RateGroup): at most Limit calls in any window, counted in Redis
//     when configured so that every replica shares one budget, and a
//     pause of the whole group while Extend says its window is spent
//     (429 with Retry-After, or x-ratelimit-remaining: 0 with
//     x-ratelimit-reset);
//  4. the bulkhead: at most MaxConcurrent calls in flight per replica;
//     a call waits at most QueueWait for a free slot, and at most
//     MaxConcurrent calls wait at once: never an unbounded queue.
//
// A call refused by any of them fails at once with a *RefusedError, which
// implements erp.Refusal: the erp client reports it as erp.ErrUnavailable
// or erp.ErrThrottled (with RetryAfter) without retrying, so Vendre gets a
// stale answer or a fast 503 instead of waiting out its budget.
package erpguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/ratelimit"
)

// Sentinel errors, wrapped by every *RefusedError.
var (
	// ErrCircuitOpen: the circuit is open (or a probe is already out);
	// the ERP is failing.
	ErrCircuitOpen = errors.New("erpguard: circuit open")
	// ErrBulkheadFull: MaxConcurrent calls are in flight and the queue is
	// full, or no slot freed within QueueWait.
	ErrBulkheadFull = errors.New("erpguard: too many calls in flight")
	// ErrRateLimited: the group's rate limit is spent, or Extend asked us
	// to wait, for longer than the call may wait.
	ErrRateLimited = errors.New("erpguard: rate limit spent")
	// ErrHostNotAllowed: the request is for another host than the ERP's.
	ErrHostNotAllowed = errors.New("erpguard: host not allowed")
)

// Defaults of Config.
const (
	DefaultMaxConcurrent = 32
	DefaultQueueWait     = 100 * time.Millisecond
	DefaultLimitWait     = time.Second
	DefaultFailures      = 5
	DefaultOpenFor       = 5 * time.Second
	DefaultKeyPrefix     = "gw:erpguard:"
)

// DefaultLimit is Extend's standard limit per rate-limit group: 300 calls
// per window. The window is not published; a minute is the cautious guess.
var DefaultLimit = ratelimit.Limit{N: 300, Per: time.Minute}

// Config configures a Guard. Zero values take the defaults.
type Config struct {
	// Host, when not empty, is the only host[:port] requests may go to
	// (EXTEND_BASE_URL's).
	Host string
	// Limit is the most calls per rate-limit group in any window
	// (EXTEND_RATE_LIMIT); DefaultLimit when zero. Disable with a Limit
	// whose N is negative.
	Limit ratelimit.Limit
	// Redis, when not nil, holds the limits and pauses so that every
	// replica shares them; nil keeps them in process.
	Redis redis.UniversalClient
	// KeyPrefix prefixes the Guard's Redis keys; DefaultKeyPrefix.
	KeyPrefix string
	// LimitWait is the longest a call waits for its group's rate limit
	// (never past its context's deadline); DefaultLimitWait.
	LimitWait time.Duration
	// MaxConcurrent bounds the calls in flight (ERP_MAX_CONCURRENCY);
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// QueueWait is the longest a call waits for a free slot;
	// DefaultQueueWait.
	QueueWait time.Duration
	// Failures is the run of consecutive failures that opens the circuit;
	// DefaultFailures.
	Failures int
	// OpenFor is how long the circuit stays open before a probe;
	// DefaultOpenFor.
	OpenFor time.Duration
	// Logger is told of circuit changes and pauses; nil discards.
	Logger *slog.Logger
}

// Guard is the http.RoundTripper described in the package comment. It is
// safe for concurrent use.
type Guard struct {
	next     http.RoundTripper
	cfg      Config
	log      *slog.Logger
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	limiters sync.Map // group -> limiter
	pauses   pauses
	slots    chan struct{}
	waiting  atomic.Int64
	stats    Stats
	now      func() time.Time
}

// limiter is what a group's rate limit needs; ratelimit.Local and
// ratelimit.Redis have it.
type limiter interface {
	Allow(ctx context.Context, key string) (ratelimit.Decision, error)
}

// New returns a Guard sending what it lets through to next
// (http.DefaultTransport when nil).
func New(next http.RoundTripper, cfg Config) *Guard {
	if next == nil {
		next = http.DefaultTransport
	}
	if cfg.Limit == (ratelimit.Limit{}) {
		cfg.Limit = DefaultLimit
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = DefaultKeyPrefix
	}
	if cfg.LimitWait <= 0 {
		cfg.LimitWait = DefaultLimitWait
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultQueueWait
	}
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultFailures
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = DefaultOpenFor
	}
	g := &Guard{next: next, cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxConcurrent), now: time.Now}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.pauses = pauses{rdb: cfg.Redis, prefix: cfg.KeyPrefix + "pause:"}
	failures := uint32(min(cfg.Failures, 1<<16)) // #nosec G115 -- clamped to 1..65536
	g.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "erp",
		MaxRequests: 1, // one probe while half-open
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, errExcluded) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			g.stats.StateChanges.Add(1)
			g.log.Warn("erp circuit "+to.String(), "from", from.String(), "open_for", cfg.OpenFor.String())
		},
	})
	return g
}

// Open reports whether the circuit is open: the last Failures calls
// failed and the ERP is left alone until the next probe. Readiness and
// the gateway_erp_circuit_open metric read it.
func (g *Guard) Open() bool { return g.breaker.State() == gobreaker.StateOpen }

// State is the circuit's state: "closed", "open" or "half-open".
func (g *Guard) State() string { return g.breaker.State().String() }

// Stats counts what the Guard did.
type Stats struct {
	Sent                                      atomic.Int64 // calls passed on to the ERP
	Failed                                    atomic.Int64 // of those, failures for the breaker
	RefusedOpen, RefusedBusy, RefusedLimit    atomic.Int64 // calls refused, by reason
	LimitWaits, Paused, StateChanges, InQueue atomic.Int64 // waits for the limit, pauses set, circuit changes, calls queued now
}

// Stats returns the Guard's counters.
func (g *Guard) Stats() *Stats { return &g.stats }

// Outcomes reported to the breaker.
var (
	errFailure  = errors.New("erpguard: failure")
	errExcluded = errors.New("erpguard: neither success nor failure")
)

// RoundTrip sends req if the guards let it through; see the package
// comment. A refusal is a *RefusedError.
func (g *Guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.cfg.Host != "" && req.URL.Host != g.cfg.Host {
		return nil, &RefusedError{Err: ErrHostNotAllowed, Sentinel: erp.ErrBadResponse}
	}
	if g.breaker.State() == gobreaker.StateOpen {
		g.stats.RefusedOpen.Add(1)
		return nil, &RefusedError{Err: ErrCircuitOpen, Sentinel: erp.ErrUnavailable, RetryAfter: g.cfg.OpenFor}
	}
	ctx := req.Context()
	group := erp.RateGroup(req.URL.Path)
	if err := g.waitRate(ctx, group); err != nil {
		return nil, err
	}
	if !g.acquire(ctx) {
		g.stats.RefusedBusy.Add(1)
		return nil, &RefusedError{Err: ErrBulkheadFull, Sentinel: erp.ErrUnavailable, RetryAfter: time.Second}
	}
	defer func() { <-g.slots }()
	done, err := g.breaker.Allow()
	if err != nil { // opened meanwhile, or the one half-open probe is out
		g.stats.RefusedOpen.Add(1)
		return nil, &RefusedError{Err: ErrCircuitOpen, Sentinel: erp.ErrUnavailable, RetryAfter: g.cfg.OpenFor}
	}
	g.stats.Sent.Add(1)
	res, err := g.next.RoundTrip(req)
	outcome := classify(ctx, res, err)
	if errors.Is(outcome, errFailure) {
		g.stats.Failed.Add(1)
	}
	done(outcome)
	if res != nil {
		if d := erp.ThrottleWait(res.StatusCode, res.Header, g.now()); d > 0 {
			g.stats.Paused.Add(1)
			g.pauses.set(ctx, group, g.now().Add(d))
			g.log.Info("erp asked to wait; pausing the group", "group", group, "wait", d.String(), "status", res.StatusCode)
		}
	}
	return res, err
}

// classify tells the breaker what one exchange says about the ERP: nil for
// an answer that proves it works (any 2xx, 3xx or 4xx but 408 and 429),
// errFailure for 5xx, 408, timeouts and broken connections, errExcluded
// for 429 (the ERP works; the rate limit deals with it) and for a caller
// who hung up.
func classify(ctx context.Context, res *http.Response, err error) error {
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) &&
			!errors.Is(context.Cause(ctx), erp.ErrAttemptTimeout) {
			return errExcluded // cancelled by the caller, not a timeout
		}
		return errFailure
	}
	switch {
	case res.StatusCode == http.StatusTooManyRequests:
		return errExcluded
	case res.StatusCode >= 500, res.StatusCode == http.StatusRequestTimeout:
		return errFailure
	}
	return nil
}

// waitRate takes one call from group's rate limit, waiting for it while
// the wait fits LimitWait and ctx's deadline; else a *RefusedError.
func (g *Guard) waitRate(ctx context.Context, group string) error {
	if g.cfg.Limit.N < 0 {
		return nil
	}
	deadline := g.now().Add(g.cfg.LimitWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	lim := g.limiter(group)
	for {
		wait := time.Duration(0)
		if until := g.pauses.until(ctx, group); until.After(g.now()) {
			wait = until.Sub(g.now())
		} else {
			d, err := lim.Allow(ctx, group)
			if err != nil {
				return err
			}
			if d.Allowed {
				return nil
			}
			wait = d.RetryAfter
		}
		if g.now().Add(wait).After(deadline) {
			g.stats.RefusedLimit.Add(1)
			return &RefusedError{Err: ErrRateLimited, Sentinel: erp.ErrThrottled, RetryAfter: wait}
		}
		g.stats.LimitWaits.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (g *Guard) limiter(group string) limiter {
	if l, ok := g.limiters.Load(group); ok {
		return l.(limiter)
	}
	var l limiter
	if g.cfg.Redis != nil {
		l = ratelimit.NewRedis(g.cfg.Redis, g.cfg.KeyPrefix+"rate:", g.cfg.Limit, g.log)
	} else {
		l = ratelimit.NewLocal(g.cfg.Limit, 16)
	}
	actual, _ := g.limiters.LoadOrStore(group, l)
	return actual.(limiter)
}

// acquire takes a slot of the bulkhead: at once when one is free, else
// after waiting at most QueueWait behind at most MaxConcurrent others.
func (g *Guard) acquire(ctx context.Context) bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	if g.waiting.Add(1) > int64(g.cfg.MaxConcurrent) {
		g.waiting.Add(-1)
		return false
	}
	g.stats.InQueue.Add(1)
	defer func() {
		g.waiting.Add(-1)
		g.stats.InQueue.Add(-1)
	}()
	t := time.NewTimer(g.cfg.QueueWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// RefusedError is a call the Guard did not send. It implements
// erp.Refusal and wraps one of ErrCircuitOpen, ErrBulkheadFull,
// ErrRateLimited or ErrHostNotAllowed.
type RefusedError struct {
	Err        error         // why: one of the sentinels above
	Sentinel   error         // what the erp client reports: erp.ErrUnavailable, erp.ErrThrottled
	RetryAfter time.Duration // how long until a call may pass; 0 when unknown
}

func (e *RefusedError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter.Round(time.Millisecond))
	}
	return e.Err.Error()
}

// Unwrap returns the reason.
func (e *RefusedError) Unwrap() error { return e.Err }

// Refused implements erp.Refusal.
func (e *RefusedError) Refused() (time.Duration, error) { return e.RetryAfter, e.Sentinel }

// The erp client finds a refusal with errors.As: without Refused, it would
// silently retry every refused call.
var _ erp.Refusal = (*RefusedError)(nil)

// pauses remembers, per group, until when Extend asked us not to call: in
// Redis when configured (every replica pauses), else in process.
type pauses struct {
	rdb    redis.UniversalClient
	prefix string
	local  sync.Map // group -> *atomic.Int64 (unix nanoseconds)
}

func (p *pauses) localFor(group string) *atomic.Int64 {
	v, _ := p.local.LoadOrStore(group, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// set pauses group until t (a later pause is never shortened locally).
func (p *pauses) set(ctx context.Context, group string, t time.Time) {
	l := p.localFor(group)
	for {
		old := l.Load()
		if old >= t.UnixNano() || l.CompareAndSwap(old, t.UnixNano()) {
			break
		}
	}
	if p.rdb != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 200*time.Millisecond)
		defer cancel()
		_ = p.rdb.Set(ctx, p.prefix+group, t.UnixMilli(), time.Until(t)+time.Millisecond).Err()
	}
}

// until returns until when group is paused (the past when it is not).
func (p *pauses) until(ctx context.Context, group string) time.Time {
	t := time.Unix(0, p.localFor(group).Load())
	if p.rdb == nil {
		return t
	}
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	ms, err := p.rdb.Get(ctx, p.prefix+group).Int64()
	if err != nil { // none, or Redis fails: the local pause stands
		return t
	}
	if r := time.UnixMilli(ms); r.After(t) {
		return r
	}
	return t
}
