package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/vendre-extend/gateway/ratelimit"
)

// RateLimiter decides whether one more request under key may pass now;
// *ratelimit.Local and *ratelimit.Redis have it.
type RateLimiter interface {
	Allow(ctx context.Context, key string) (ratelimit.Decision, error)
}

// errRateLimited is a caller over its rate: 429 rate_limited.
var errRateLimited = errors.New("handlers: rate limited")

// rateLimitError carries how long the caller should wait (Retry-After).
type rateLimitError struct {
	scope      string // "key" or "customer"
	retryAfter time.Duration
}

func (e *rateLimitError) Error() string { return "handlers: over the " + e.scope + " rate" }
func (e *rateLimitError) Unwrap() error { return errRateLimited }

// RateLimitConfig configures the RateLimit middleware.
type RateLimitConfig struct {
	// Skipper skips the check for some requests.
	Skipper middleware.Skipper
	// PerKey limits the requests of each API key (RATE_LIMIT_PER_KEY);
	// nil: no limit.
	PerKey RateLimiter
	// PerCustomer limits the requests for each customer_no, whatever the
	// key (RATE_LIMIT_PER_CUSTOMER); nil: no limit.
	PerCustomer RateLimiter
}

// RateLimit answers 429 rate_limited with Retry-After (whole seconds,
// rounded up) to a request over its API key's or its customer's rate.
// Put it after APIKey, so only accepted keys are counted. Keys are
// counted by a hash (a key never reaches Redis or a log); customers by
// their customer_no when it is well-formed (else the handler's 400 comes
// first). A limiter that fails lets the request through.
func RateLimit(cfg RateLimitConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = middleware.DefaultSkipper
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if cfg.PerKey == nil && cfg.PerCustomer == nil {
			return next
		}
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			ctx := c.Request().Context()
			if cfg.PerKey != nil {
				h := sha256.Sum256([]byte(keyOf(c)))
				if err := check(ctx, cfg.PerKey, "key:"+hex.EncodeToString(h[:12]), "key"); err != nil {
					return err
				}
			}
			if cfg.PerCustomer != nil {
				if no := customerParam(c); no != "" {
					if err := check(ctx, cfg.PerCustomer, "customer:"+no, "customer"); err != nil {
						return err
					}
				}
			}
			return next(c)
		}
	}
}

func check(ctx context.Context, l RateLimiter, key, scope string) error {
	d, err := l.Allow(ctx, key)
	if err != nil || d.Allowed {
		return nil // fail open: the limit protects, it must not break
	}
	return &rateLimitError{scope: scope, retryAfter: d.RetryAfter}
}

// retryAfterSeconds is d in whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// chain runs the middleware in order, outermost first.
func chain(mw ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		for i := len(mw) - 1; i >= 0; i-- {
			next = mw[i](next)
		}
		return next
	}
}

// Limits on the request itself.
const (
	// MaxQuery is the longest query string accepted: 400 beyond it.
	MaxQuery = 2 << 10
	// MaxHeader is the most header bytes accepted: 431 beyond it. (The
	// server refuses more than 64 KiB itself, before any handler.)
	MaxHeader = 16 << 10
)

// errHeaderTooLarge is a request whose headers exceed MaxHeader.
var errHeaderTooLarge = echo.NewHTTPError(http.StatusRequestHeaderFieldsTooLarge)

// RequestLimits refuses a query string longer than MaxQuery (400
// invalid_request naming the query) and headers larger than MaxHeader
// (431), with the contract's JSON error, before any handler runs.
func RequestLimits() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if len(r.URL.RawQuery) > MaxQuery {
				return &paramError{Param: "query", Msg: "the query string is longer than " + strconv.Itoa(MaxQuery) + " bytes"}
			}
			n := 0
			for k, vs := range r.Header {
				for _, v := range vs {
					n += len(k) + len(v) + 4
				}
			}
			if n > MaxHeader {
				return errHeaderTooLarge
			}
			return next(c)
		}
	}
}
