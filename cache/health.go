package cache

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// Whether Redis is down: the gateway's one notion of it. Every Redis call
// the cache makes feeds it, and so does the listener's heartbeat, a read
// once a second (Run), so it is current even when no request comes.
// /readyz, the admin status page and the metrics read it through
// [Cache.RedisDown]; the cache reads it before each call to Redis.

// backOff is how long Redis is left alone after it failed to answer, so
// that a dead Redis costs one timeout a second, not one per request.
const backOff = time.Second

// redisHealth is the notion described above. It follows the wall clock,
// not the cache's (which tests may stop).
type redisHealth struct {
	log       *slog.Logger
	down      atomic.Bool
	skipUntil atomic.Int64 // unix nanoseconds; Redis is not called before
}

// usable reports whether Redis may be called now.
func (h *redisHealth) usable() bool { return time.Now().UnixNano() >= h.skipUntil.Load() }

// failed records a failed Redis call. A failure that says Redis cannot
// serve (ErrUnavailable) marks it down and leaves it alone for backOff;
// another (a full pool, a bad reply) is only logged.
func (h *redisHealth) failed(op string, err error) {
	if !errors.Is(err, ErrUnavailable) {
		h.log.Warn("cache "+op+" failed", "err", err)
		return
	}
	h.skipUntil.Store(time.Now().Add(backOff).UnixNano())
	if !h.down.Swap(true) {
		h.log.Warn("redis unavailable; serving from memory and the ERP", "op", op, "err", err)
	}
}

// ok records a Redis call that succeeded.
func (h *redisHealth) ok() {
	if h.down.Load() && h.down.Swap(false) {
		h.skipUntil.Store(0)
		h.log.Info("redis answers again")
	}
}

// observe records the outcome of a Redis call.
func (h *redisHealth) observe(op string, err error) {
	if err != nil {
		h.failed(op, err)
		return
	}
	h.ok()
}
