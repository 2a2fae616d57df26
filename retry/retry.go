// Package retry is the gateway's one retry policy: exponential backoff
// with jitter, computed by github.com/cenkalti/backoff/v5 (a kept library
// rather than code of our own). The ERP client waits by it between the
// attempts of one call; durable work waits by it between the tries of one
// job. Replicas that failed together do not retry together: every wait is
// drawn at random.
package retry

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Jitter is how far a wait may fall from its interval: between half and
// one and a half times it.
const Jitter = 0.5

// Policy is an exponential backoff: the interval before retry n (from 1)
// is Base·2^(n-1), at most Max, and the wait is drawn at random within
// Jitter of the interval. So no wait is longer than 1.5·Max.
type Policy struct {
	Base time.Duration // the first interval; 0 means no wait
	Max  time.Duration // the largest interval
}

// BackOff returns a fresh backoff of p, for retries made in one loop in
// process: its NextBackOff is the wait before the next retry.
func (p Policy) BackOff() *backoff.ExponentialBackOff {
	return p.from(p.Base)
}

// Wait is the wait before retry number attempt (from 1), for work whose
// tries are counted elsewhere (kept in Redis across restarts).
func (p Policy) Wait(attempt int) time.Duration {
	if p.Base <= 0 {
		return 0
	}
	interval := p.Base << min(max(attempt-1, 0), 30)
	if interval > p.Max || interval <= 0 {
		interval = p.Max
	}
	return p.from(interval).NextBackOff()
}

func (p Policy) from(interval time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     interval,
		RandomizationFactor: Jitter,
		Multiplier:          2,
		MaxInterval:         max(p.Max, interval),
	}
}
