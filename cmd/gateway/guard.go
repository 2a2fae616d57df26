package main

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erpguard"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/ratelimit"
	"github.com/vendre-extend/gateway/telemetry"
)

// newGuard returns the ERP's guard (erpguard) around hc's transport, and
// hc, which the erp client then sends through it: only EXTEND_BASE_URL's
// host, the budget of EXTEND_RATE_LIMIT per Extend rate-limit group by
// class and fair share (shared through rdb when not nil), pauses capped
// at EXTEND_MAX_PAUSE, at most ERP_MAX_CONCURRENCY calls in flight.
func newGuard(cfg *Config, rdb redis.UniversalClient, log *slog.Logger, hc *http.Client) (*erpguard.Guard, *http.Client) {
	host := ""
	if u, err := url.Parse(cfg.ExtendBaseURL); err == nil {
		host = u.Host
	}
	g := erpguard.New(hc.Transport, erpguard.Config{
		Host:          host,
		Limit:         cfg.ExtendRateLimit.Limit,
		Reserve:       orNone(float64(cfg.ExtendInteractiveReserve)),
		Floor:         orNone(float64(cfg.ExtendBackgroundFloor)),
		MaxPause:      cfg.ExtendMaxPause,
		Redis:         rdb,
		KeyPrefix:     cfg.guardPrefix(),
		MaxConcurrent: cfg.ERPMaxConcurrency,
		Logger:        log,
	})
	hc.Transport = g
	return g, hc
}

// orNone is a share for erpguard.Config, where zero means the default and
// a negative share none.
func orNone(share float64) float64 {
	if share == 0 {
		return -1
	}
	return share
}

// newLimiter returns the limiter of one of the gateway's own rate limits
// (RATE_LIMIT_PER_KEY, RATE_LIMIT_PER_DOCUMENT,
// RATE_LIMIT_DOCUMENTS_PER_CUSTOMER), nil when l is off. It is kept in
// process on purpose: a request must cost no Redis round trip for it, and
// a limit per replica protects each replica. With N replicas behind a
// load balancer a caller may reach N times the limit; the ERP's own
// budget (newGuard) is the one shared through Redis.
func newLimiter(l ratelimit.Limit) *ratelimit.Local {
	if !l.Enabled() {
		return nil
	}
	return ratelimit.NewLocal(l, 0)
}

// keyLimiter and rateLimiter keep a nil *ratelimit.Local a nil interface.
func keyLimiter(l *ratelimit.Local) handlers.KeyLimiter {
	if l == nil {
		return nil
	}
	return l
}

func rateLimiter(l *ratelimit.Local) handlers.RateLimiter {
	if l == nil {
		return nil
	}
	return l
}

// classes are the call classes in the order the guard counts them.
var classes = []erp.Class{erp.Interactive, erp.Refresh, erp.Background}

// budgetStats are the guard's calls by class, for the metrics (none
// before the guard exists).
func budgetStats(g *erpguard.Guard) []telemetry.BudgetStat {
	if g == nil {
		return nil
	}
	out := make([]telemetry.BudgetStat, len(classes))
	for i, c := range classes {
		out[i] = telemetry.BudgetStat{Class: c.String(), Sent: g.Stats().SentBy[c].Load(), Refused: g.Stats().RefusedBy[c].Load()}
	}
	return out
}

// classCalls are the same figures for the status page.
func classCalls(g *erpguard.Guard) []handlers.ClassCalls {
	var out []handlers.ClassCalls
	for _, b := range budgetStats(g) {
		out = append(out, handlers.ClassCalls{Class: b.Class, Sent: b.Sent, Refused: b.Refused})
	}
	return out
}
