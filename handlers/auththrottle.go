package handlers

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/maypok86/otter/v2"

	"github.com/vendre-extend/gateway/ratelimit"
)

// DefaultAuthFailures is the budget of failed attempts per source address
// (AUTH_FAILURE_LIMIT): 100 in any 10 minutes, that is 10 at once, then
// one every 6.7 s.
var DefaultAuthFailures = ratelimit.Limit{N: 100, Per: 10 * time.Minute}

// AuthThrottle slows down the guessing of credentials: the API key, the
// admin token and the webhook credentials. It counts failed attempts (any
// answer of 401) per source address, and once a source has spent its
// budget it answers that source's requests 429 with Retry-After, without
// checking their credentials, until the budget refills. Its one hook is
// the 401: whatever the way a credential is presented and checked, a
// refusal ends in errUnauthorized or webhook.ErrSignature, which the error
// table makes 401, and the throttle counts it (Middleware).
//
// The source address is the caller's, as the load balancer in front saw
// it: the peer address, unless that peer is a proxy the gateway trusts
// (loopback, link-local, private addresses, and TRUSTED_PROXIES), whose
// X-Forwarded-For then names the client (the right-most address that is
// not a trusted proxy). A caller cannot forge it: an X-Forwarded-For from
// an untrusted peer is ignored. IPv6 sources count per /64.
//
// A source that presented a valid credential (an answer of 2xx) in the
// last day is never held back, only counted: failures cannot lock Vendre's
// servers out, even if an attacker shares their address (a NAT, or a
// balancer that hides client addresses). Counts are kept per replica:
// with N replicas a source gets N budgets. See docs/security.md.
type AuthThrottle struct {
	failures *ratelimit.Local
	proven   *otter.Cache[string, struct{}] // sources with a valid credential lately
	warned   *otter.Cache[string, struct{}] // sources logged as held back lately
	log      *slog.Logger
}

// Bounds of the throttle's memory.
const (
	authSources    = 100_000        // sources counted at once
	provenFor      = 24 * time.Hour // how long a valid credential vouches for its source
	provenSources  = 10_000
	warnEvery      = 10 * time.Minute // one log line per held-back source
	warnedSources  = 10_000
	ipv6SourceBits = 64
)

// NewAuthThrottle returns a throttle allowing limit failed attempts per
// source address (a disabled limit counts nothing and holds nobody back).
// log may be nil.
func NewAuthThrottle(limit ratelimit.Limit, log *slog.Logger) *AuthThrottle {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	remember := func(n int, d time.Duration) *otter.Cache[string, struct{}] {
		return otter.Must(&otter.Options[string, struct{}]{
			MaximumSize:      n,
			ExpiryCalculator: otter.ExpiryWriting[string, struct{}](d),
		})
	}
	return &AuthThrottle{
		failures: ratelimit.NewLocal(limit, authSources),
		proven:   remember(provenSources, provenFor),
		warned:   remember(warnedSources, warnEvery),
		log:      log,
	}
}

// Middleware guards a route that checks a credential. Put it outside the
// check (APIKey, BearerToken, a webhook handler), so that it sees the 401.
// refuse, if not nil, answers a held-back request in the route's own
// convention (RetailCRM's); nil means the contract's 429 rate_limited.
func (a *AuthThrottle) Middleware(refuse func(c echo.Context, retryAfter time.Duration) error) echo.MiddlewareFunc {
	if refuse == nil {
		refuse = func(_ echo.Context, d time.Duration) error { return &rateLimitError{scope: "auth", retryAfter: d} }
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			src := sourceOf(c)
			_, proven := a.proven.GetIfPresent(src)
			if !proven {
				if d := a.failures.Peek(src); !d.Allowed {
					return refuse(c, d.RetryAfter)
				}
			}
			err := next(c)
			switch status := outcome(c, err); {
			case status == http.StatusUnauthorized:
				a.failed(c, src)
			case status >= 200 && status < 300 && !proven:
				a.proven.Set(src, struct{}{})
			}
			return err
		}
	}
}

// failed counts a failed attempt from src, and logs (once in a while) that
// the source is now held back.
func (a *AuthThrottle) failed(c echo.Context, src string) {
	_, _ = a.failures.Allow(c.Request().Context(), src)
	if a.failures.Peek(src).Allowed {
		return
	}
	if _, ok := a.warned.GetIfPresent(src); ok {
		return
	}
	a.warned.Set(src, struct{}{})
	a.log.Warn("auth: too many failed attempts; holding the source back", "source", src, "route", c.Path())
}

// outcome is the status a request ends with: its error's, or the answer's.
func outcome(c echo.Context, err error) int {
	if err != nil {
		status, _, _ := classify(err)
		return status
	}
	return c.Response().Status
}

// sourceOf is the address a request is counted under: its client's
// address (echo's IPExtractor, see New), an IPv6 one cut to its /64. An
// IPv4 source costs no allocation.
func sourceOf(c echo.Context) string {
	s := c.RealIP()
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is4() || a.Is4In6() {
		return s
	}
	p, err := a.WithZone("").Prefix(ipv6SourceBits)
	if err != nil {
		return s
	}
	return p.String()
}
