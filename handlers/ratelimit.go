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

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/ratelimit"
)

// RateLimiter decides whether one more request under key may pass now;
// *ratelimit.Local has it.
type RateLimiter interface {
	Allow(ctx context.Context, key string) (ratelimit.Decision, error)
}

// errRateLimited is a caller over its rate: 429 rate_limited.
var errRateLimited = errors.New("handlers: rate limited")

// rateLimitError carries how long the caller should wait (Retry-After).
type rateLimitError struct {
	scope      string // "key", "document" or "customer"
	retryAfter time.Duration
}

func (e *rateLimitError) Error() string { return "handlers: over the " + e.scope + " rate" }
func (e *rateLimitError) Unwrap() error { return errRateLimited }

// KeyLimiter limits what each API key may spend; *ratelimit.Local has it.
type KeyLimiter interface {
	RateLimiter
	// Peek reports what Allow would answer now, taking nothing.
	Peek(key string) ratelimit.Decision
}

// RateLimitConfig configures the RateLimit middleware.
type RateLimitConfig struct {
	// Skipper skips the check for some requests.
	Skipper middleware.Skipper
	// PerKey limits, for each API key, the requests that are not cache
	// hits (RATE_LIMIT_PER_KEY); nil: no limit.
	PerKey KeyLimiter
}

// RateLimit marks the request's ERP calls with its customer's fairness
// key (erp.WithShare: the customer's fair share of the ERP's budget is
// what limits a customer), and keeps an abuse limit per API key: a key
// whose requests that were not cache hits (X-Cache HIT or STALE) went
// over PerKey gets 429 rate_limited with Retry-After (whole seconds,
// rounded up) until it is under again. An answer already cached is never
// what puts a key over: Vendre's servers are one caller for the whole
// shop. Put it after APIKey, so only accepted keys are counted. Keys are
// counted by a hash (a key never reaches a log). A limiter that fails
// lets the request through.
func RateLimit(cfg RateLimitConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = middleware.DefaultSkipper
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if no := customerParam(c); no != "" {
				r := c.Request()
				c.SetRequest(r.WithContext(erp.WithShare(r.Context(), "customer:"+no)))
			}
			if cfg.PerKey == nil || cfg.Skipper(c) {
				return next(c)
			}
			h := sha256.Sum256([]byte(keyOf(c)))
			key := "key:" + hex.EncodeToString(h[:12])
			if d := cfg.PerKey.Peek(key); !d.Allowed {
				return &rateLimitError{scope: "key", retryAfter: d.RetryAfter}
			}
			err := next(c)
			if x := c.Response().Header().Get("X-Cache"); x != cache.Hit && x != cache.Stale {
				_, _ = cfg.PerKey.Allow(c.Request().Context(), key)
			}
			return err
		}
	}
}

// DocumentLimitConfig configures the DocumentLimit middleware.
type DocumentLimitConfig struct {
	// Owner returns the customer and invoice a document token was made
	// for; an error for a token that is not genuine (the handler answers
	// 404 for it, with no ERP call).
	Owner func(token string) (customerNo, invoiceNo string, err error)
	// PerDocument limits the downloads of each document
	// (RATE_LIMIT_PER_DOCUMENT); nil: no limit.
	PerDocument RateLimiter
	// PerCustomer limits the downloads of each customer's documents
	// (RATE_LIMIT_DOCUMENTS_PER_CUSTOMER); nil: no limit.
	PerCustomer RateLimiter
}

// DocumentLimit guards GET /v1/documents/{token}, which needs no API key
// and costs ERP calls on every download: a document over PerDocument, or
// a customer over PerCustomer, gets 429 rate_limited with Retry-After;
// and the download's ERP calls count against its customer's fair share
// of the ERP's budget (erp.WithShare).
func DocumentLimit(cfg DocumentLimitConfig) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Owner == nil {
				return next(c)
			}
			customerNo, invoiceNo, err := cfg.Owner(c.Param("token"))
			if err != nil {
				return next(c)
			}
			r := c.Request()
			ctx := erp.WithShare(r.Context(), "customer:"+customerNo)
			c.SetRequest(r.WithContext(ctx))
			if cfg.PerDocument != nil {
				if err := check(ctx, cfg.PerDocument, "document:"+customerNo+"/"+invoiceNo, "document"); err != nil {
					return err
				}
			}
			if cfg.PerCustomer != nil {
				if err := check(ctx, cfg.PerCustomer, "customer:"+customerNo, "customer"); err != nil {
					return err
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
