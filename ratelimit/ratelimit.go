// Package ratelimit counts events per key against a Limit: at most N events
// in any window of length Per, in process (Local: golang.org/x/time/rate,
// one token bucket per key, a bounded number of keys).
//
// The gateway limits its callers with it (handlers.RateLimit,
// handlers.DocumentLimit): the requests of each Vendre API key that are
// not cache hits, and the downloads of each document link and each
// customer. The ERP's own budget, shared by replicas, is erpguard's.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"
)

// Limit is at most N events in any window of length Per. The zero Limit
// means no limit.
type Limit struct {
	N   int
	Per time.Duration
}

// Enabled reports whether l limits anything.
func (l Limit) Enabled() bool { return l.N > 0 && l.Per > 0 }

// String formats l as Parse reads it: "300/1m0s", or "off".
func (l Limit) String() string {
	if !l.Enabled() {
		return "off"
	}
	return strconv.Itoa(l.N) + "/" + l.Per.String()
}

// Parse reads a limit written "N/duration" ("300/1m", "20/1s"); "off", "0"
// and "" are the zero Limit (no limit).
func Parse(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" || strings.EqualFold(s, "off") {
		return Limit{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, fmt.Errorf("want N/duration such as 300/1m, or off, got %q", s)
	}
	l := Limit{}
	var err error
	if l.N, err = strconv.Atoi(strings.TrimSpace(n)); err != nil || l.N < 1 || l.N > 1_000_000 {
		return Limit{}, fmt.Errorf("want a count from 1 to 1000000 before the slash, got %q", s)
	}
	if l.Per, err = time.ParseDuration(strings.TrimSpace(per)); err != nil || l.Per < time.Millisecond || l.Per > 24*time.Hour {
		return Limit{}, fmt.Errorf("want a duration from 1ms to 24h after the slash, got %q", s)
	}
	return l, nil
}

// UnmarshalText reads l as Parse does, so that a Limit can be a setting.
func (l *Limit) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// bucket returns the steady rate (events per Per) and the burst of a token
// bucket (or GCRA) that lets at most N events into any window of length
// Per: burst + rate = N, burst a tenth of N (at least 1). A burst of N with
// a rate of N would let up to 2N through in the worst window.
func (l Limit) bucket() (perWindow, burst int) {
	burst = max(1, l.N/10)
	perWindow = max(1, l.N-burst)
	return perWindow, burst
}

// Peek reports whether an event for key would be allowed now, without
// taking one; a key it has not seen is allowed. It never fails.
func (x *Local) Peek(key string) Decision {
	if x.keys == nil {
		return Decision{Allowed: true}
	}
	lim, ok := x.keys.GetIfPresent(key)
	if !ok {
		return Decision{Allowed: true}
	}
	now := x.now()
	if lim.TokensAt(now) >= 1 {
		return Decision{Allowed: true}
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return Decision{RetryAfter: max(d, time.Millisecond)}
}

// Decision is the answer to one Allow.
type Decision struct {
	Allowed bool
	// RetryAfter is, when not Allowed, how long until one event would be
	// allowed; 0 when Allowed.
	RetryAfter time.Duration
}

// DefaultMaxKeys bounds the keys a Local limiter remembers.
const DefaultMaxKeys = 100_000

// Local limits events per key in this process. Keys idle for longer than
// the window are forgotten (their bucket would be full again anyway), and
// at most maxKeys are kept: a flood of distinct keys cannot grow memory.
type Local struct {
	limit Limit
	every rate.Limit
	burst int
	keys  *otter.Cache[string, *rate.Limiter]
	now   func() time.Time
}

// NewLocal returns a Local limiter for l remembering at most maxKeys keys
// (DefaultMaxKeys when maxKeys <= 0). A disabled l allows everything.
func NewLocal(l Limit, maxKeys int) *Local {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	x := &Local{limit: l, now: time.Now}
	if !l.Enabled() {
		return x
	}
	per, burst := l.bucket()
	x.every = rate.Limit(float64(per) / l.Per.Seconds())
	x.burst = burst
	x.keys = otter.Must(&otter.Options[string, *rate.Limiter]{
		MaximumSize:      maxKeys,
		ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](l.Per),
	})
	return x
}

// Limit returns the limit x enforces.
func (x *Local) Limit() Limit { return x.limit }

// Allow takes one event for key now, if the limit allows it. It never
// fails.
func (x *Local) Allow(_ context.Context, key string) (Decision, error) {
	if x.keys == nil {
		return Decision{Allowed: true}, nil
	}
	lim, _ := x.keys.ComputeIfAbsent(key, func() (*rate.Limiter, bool) {
		return rate.NewLimiter(x.every, x.burst), false
	})
	now := x.now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return Decision{RetryAfter: d}, nil
	}
	return Decision{Allowed: true}, nil
}
