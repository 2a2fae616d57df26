package main

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/erpguard"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/ratelimit"
)

// newGuard returns the ERP's guard (erpguard) around hc's transport, and
// hc, which the erp client then sends through it: only EXTEND_BASE_URL's
// host, at most EXTEND_RATE_LIMIT per Extend rate-limit group (shared
// through rdb when not nil), at most ERP_MAX_CONCURRENCY calls in flight.
func newGuard(cfg *Config, rdb redis.UniversalClient, log *slog.Logger, hc *http.Client) (*erpguard.Guard, *http.Client) {
	host := ""
	if u, err := url.Parse(cfg.ExtendBaseURL); err == nil {
		host = u.Host
	}
	limit := cfg.ExtendRateLimit
	if !limit.Enabled() { // EXTEND_RATE_LIMIT=off
		limit = ratelimit.Limit{N: -1}
	}
	g := erpguard.New(hc.Transport, erpguard.Config{
		Host:          host,
		Limit:         limit,
		Redis:         rdb,
		MaxConcurrent: cfg.ERPMaxConcurrency,
		Logger:        log,
	})
	hc.Transport = g
	return g, hc
}

// newLimiter returns the limiter of one of the gateway's own rate limits
// (RATE_LIMIT_PER_KEY, RATE_LIMIT_PER_CUSTOMER), nil when l is off. It is
// kept in process on purpose: a cache hit must cost no Redis round trip,
// and a limit per replica protects each replica. With N replicas behind a
// load balancer a caller may reach N times the limit; the ERP's own limit
// (newGuard) is the one shared through Redis.
func newLimiter(l ratelimit.Limit) handlers.RateLimiter {
	if !l.Enabled() {
		return nil
	}
	return ratelimit.NewLocal(l, 0)
}
