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
//  3. the budget of the call's Extend rate-limit group (erp.RateGroup):
//     at most Limit calls in any window, counted in Redis when configured
//     so that every replica shares one budget, spent by class
//     (erp.ClassOf: interactive before refresh before background, with a
//     floor for background) and by fair shares within a class
//     (erp.ShareOf); see budget.go. While Extend says its window is spent
//     (429 with Retry-After, or x-ratelimit-remaining: 0 with
//     x-ratelimit-reset) the whole group pauses, on every replica, for at
//     most MaxPause, until then or until Resume;
//  4. the bulkhead: at most MaxConcurrent calls in flight per replica, of
//     which refresh and background may hold half; an interactive call
//     waits at most QueueWait for a free slot (never past its deadline),
//     and at most QueueLength calls wait at once: never an unbounded
//     queue.
//
// An interactive call waits for budget at most LimitWait; refresh and
// background calls, for whom nobody waits, up to BackgroundWait. None
// waits past its context's deadline. The Guard is an erp.Holder: the erp
// client's per-attempt timeout starts when the Guard sends the call.
//
// A call refused by any of them fails with a *RefusedError, which
// implements erp.Refusal: the erp client reports it as erp.ErrUnavailable
// or erp.ErrThrottled (with RetryAfter) without retrying, so Vendre gets a
// stale answer or a fast 503 instead of waiting out its budget.
package erpguard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	DefaultQueueWait     = time.Second
	// DefaultQueueLength is how many calls may wait for a slot, per slot
	// of MaxConcurrent: a burst of customers opening My Account at once
	// (20 of them fan out to some 500 record reads) waits its turn.
	DefaultQueueLength = 16
	DefaultLimitWait   = time.Second
	DefaultFailures    = 5
	DefaultOpenFor     = 5 * time.Second
	DefaultKeyPrefix   = "gw:erpguard:"
	// DefaultBackgroundWait is the longest a refresh or background call
	// waits for budget.
	DefaultBackgroundWait = 30 * time.Second
	// DefaultMaxPause is the longest pause Extend may impose
	// (EXTEND_MAX_PAUSE).
	DefaultMaxPause = 5 * time.Minute
	// DefaultReserve is the share of each window that refresh and
	// background leave to interactive calls (EXTEND_INTERACTIVE_RESERVE).
	DefaultReserve = 0.2
	// DefaultFloor is the share of each window background may always
	// spend while it has work (EXTEND_BACKGROUND_FLOOR).
	DefaultFloor = 0.1
)

// DefaultLimit is Extend's standard limit per rate-limit group: 300 calls
// per window. The window is not published; a minute is the cautious guess.
// (In demo mode the gateway uses the simulator's own limit.)
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
	// Reserve is the share of each window (0 to 1) that refresh and
	// background calls leave free for interactive ones; DefaultReserve
	// when zero, none when negative.
	Reserve float64
	// Floor is the share of each window (0 to 1) that background calls
	// may spend while they have work, however busy interactive calls
	// keep the ERP; DefaultFloor when zero, none when negative.
	Floor float64
	// MaxPause caps a pause that Extend asks for; DefaultMaxPause.
	MaxPause time.Duration
	// LimitWait is the longest an interactive call waits for its group's
	// budget (never past its context's deadline); DefaultLimitWait.
	LimitWait time.Duration
	// BackgroundWait is the longest a refresh or background call waits
	// for budget (never past its context's deadline);
	// DefaultBackgroundWait.
	BackgroundWait time.Duration
	// MaxConcurrent bounds the calls in flight (ERP_MAX_CONCURRENCY);
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// QueueWait is the longest an interactive call waits for a free slot
	// (never past its deadline); DefaultQueueWait.
	QueueWait time.Duration
	// QueueLength is the most calls waiting for a slot at once;
	// DefaultQueueLength times MaxConcurrent.
	QueueLength int
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
	next    http.RoundTripper
	cfg     Config
	log     *slog.Logger
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	budget  *budget
	slots   chan struct{} // every call in flight
	low     chan struct{} // refresh and background calls in flight
	waiting atomic.Int64
	stats   Stats
	now     func() time.Time
	warned  atomic.Int64 // unix seconds of the last Redis warning
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
	if cfg.BackgroundWait <= 0 {
		cfg.BackgroundWait = DefaultBackgroundWait
	}
	if cfg.MaxPause <= 0 {
		cfg.MaxPause = DefaultMaxPause
	}
	cfg.Reserve = share(cfg.Reserve, DefaultReserve)
	cfg.Floor = share(cfg.Floor, DefaultFloor)
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = DefaultQueueWait
	}
	if cfg.QueueLength <= 0 {
		cfg.QueueLength = DefaultQueueLength * cfg.MaxConcurrent
	}
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultFailures
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = DefaultOpenFor
	}
	g := &Guard{next: next, cfg: cfg, log: cfg.Logger, now: time.Now,
		slots: make(chan struct{}, cfg.MaxConcurrent), low: make(chan struct{}, max(1, cfg.MaxConcurrent/2))}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.budget = &budget{
		rdb: cfg.Redis, prefix: cfg.KeyPrefix, n: cfg.Limit.N, per: cfg.Limit.Per,
		reserve: cfg.Reserve, floor: cfg.Floor, replica: replicaID(),
		disabled:   cfg.Limit.N < 0,
		onFallback: g.redisFailed,
	}
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

// share returns v, def when v is zero, 0 when v is negative.
func share(v, def float64) float64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return min(v, 1)
}

// replicaID names this process among the replicas that share the budget.
func replicaID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// redisFailed logs, at most once a minute, that the budget is kept in
// process while Redis does not answer.
func (g *Guard) redisFailed(err error) {
	if now := time.Now().Unix(); now-g.warned.Load() >= 60 {
		g.warned.Store(now)
		g.log.Warn("erp budget: redis failed; each replica keeps its share of the budget until it answers", "err", err)
	}
}

// HoldsCalls marks the Guard as an erp.Holder.
func (g *Guard) HoldsCalls() {}

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
	// SentBy and RefusedBy count the calls sent and refused by class
	// (indexed by erp.Class).
	SentBy, RefusedBy [3]atomic.Int64
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
	class := min(erp.ClassOf(ctx), erp.Background)
	group := erp.RateGroup(req.URL.Path)
	wait := g.cfg.LimitWait
	if class != erp.Interactive {
		wait = g.cfg.BackgroundWait
	}
	deadline := g.now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := g.waitBudget(ctx, group, class, erp.ShareOf(ctx), deadline); err != nil {
		g.stats.RefusedBy[class].Add(1)
		return nil, err
	}
	release, ok := g.acquire(ctx, class, deadline)
	if !ok {
		g.stats.RefusedBusy.Add(1)
		g.stats.RefusedBy[class].Add(1)
		return nil, &RefusedError{Err: ErrBulkheadFull, Sentinel: erp.ErrUnavailable, RetryAfter: time.Second}
	}
	defer release()
	done, err := g.breaker.Allow()
	if err != nil { // opened meanwhile, or the one half-open probe is out
		g.stats.RefusedOpen.Add(1)
		g.stats.RefusedBy[class].Add(1)
		return nil, &RefusedError{Err: ErrCircuitOpen, Sentinel: erp.ErrUnavailable, RetryAfter: g.cfg.OpenFor}
	}
	g.stats.Sent.Add(1)
	g.stats.SentBy[class].Add(1)
	erp.Sending(ctx)
	res, err := g.next.RoundTrip(req)
	outcome := classify(ctx, res, err)
	if errors.Is(outcome, errFailure) {
		g.stats.Failed.Add(1)
	}
	done(outcome)
	if res != nil {
		if d := erp.ThrottleWait(res.StatusCode, res.Header, g.now()); d > 0 {
			g.stats.Paused.Add(1)
			asked := d
			d = min(d, g.cfg.MaxPause)
			g.budget.pause(ctx, group, g.now(), g.now().Add(d))
			g.log.Info("erp asked to wait; pausing the group", "group", group, "wait", d.String(), "asked", asked.String(), "status", res.StatusCode)
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

// waitBudget takes one call of class for the fairness key from group's
// budget, waiting for it while the wait ends before deadline; else a
// *RefusedError.
func (g *Guard) waitBudget(ctx context.Context, group string, class erp.Class, key string, deadline time.Time) error {
	for {
		d, err := g.budget.take(ctx, group, class, key, g.now())
		if err != nil {
			return err
		}
		if d.ok {
			return nil
		}
		if g.now().Add(d.wait).After(deadline) {
			g.stats.RefusedLimit.Add(1)
			return &RefusedError{Err: ErrRateLimited, Sentinel: erp.ErrThrottled, RetryAfter: d.wait}
		}
		g.stats.LimitWaits.Add(1)
		t := time.NewTimer(d.wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// acquire takes a slot of the bulkhead: at once when one is free, else
// after waiting behind at most QueueLength others, an interactive call
// at most QueueWait, the others until deadline. Refresh and background
// calls also take one of their own slots first (half of the bulkhead),
// so that callers who wait always find one free.
func (g *Guard) acquire(ctx context.Context, class erp.Class, deadline time.Time) (release func(), ok bool) {
	if q := g.now().Add(g.cfg.QueueWait); class == erp.Interactive && q.Before(deadline) {
		deadline = q
	}
	if class != erp.Interactive {
		if !g.take(ctx, g.low, deadline) {
			return nil, false
		}
	}
	if !g.take(ctx, g.slots, deadline) {
		if class != erp.Interactive {
			<-g.low
		}
		return nil, false
	}
	return func() {
		<-g.slots
		if class != erp.Interactive {
			<-g.low
		}
	}, true
}

// take takes a slot of sem, waiting until deadline behind at most
// QueueLength others.
func (g *Guard) take(ctx context.Context, sem chan struct{}, deadline time.Time) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	if g.waiting.Add(1) > int64(g.cfg.QueueLength) {
		g.waiting.Add(-1)
		return false
	}
	g.stats.InQueue.Add(1)
	defer func() {
		g.waiting.Add(-1)
		g.stats.InQueue.Add(-1)
	}()
	t := time.NewTimer(max(deadline.Sub(g.now()), 0))
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// groups are Extend's rate-limit groups.
var groups = []string{erp.RateGroupSales, erp.RateGroupProducts, erp.RateGroupOther}

// Resume lifts the pause of every group that Extend asked for, on every
// replica that shares Redis (and here). It fails only when Redis does.
func (g *Guard) Resume(ctx context.Context) error {
	if err := g.budget.resume(ctx, groups); err != nil {
		return fmt.Errorf("erpguard: resume: %w", err)
	}
	g.log.Info("erp pause lifted by the operator")
	return nil
}

// Paused returns, for each rate-limit group paused now, how long its pause
// has left.
func (g *Guard) Paused(ctx context.Context) map[string]time.Duration {
	ctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	return g.budget.paused(ctx, groups, g.now())
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
