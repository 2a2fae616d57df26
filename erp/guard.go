package erp

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Refusal is implemented by the errors a guarding http.RoundTripper (see
// NewHTTPClient; the gateway's is erpguard.Guard) returns when it declines
// to send a call on purpose: the circuit is open, too many calls are in
// flight, or the client-side rate limit is spent. The Client never retries
// a refusal: retrying into an open circuit or a spent limit only burns the
// caller's budget. It returns an *Error wrapping Refused's sentinel
// (ErrUnavailable or ErrThrottled) with its RetryAfter.
type Refusal interface {
	error
	// Refused returns how long until a call may pass (0 when unknown)
	// and the sentinel the Client reports.
	Refused() (retryAfter time.Duration, sentinel error)
}

// ErrAttemptTimeout is the cancellation cause (context.Cause) of a
// request's context when its attempt ran out of Config.CallTimeout. A
// RoundTripper tells a timeout, which says something about the ERP, from a
// caller who hung up, which does not, by it.
var ErrAttemptTimeout = errCallTimeout

// refusalError is the *Error for a call the transport refused to send.
func refusalError(op string, err error) (*Error, bool) {
	var rf Refusal
	if !errors.As(err, &rf) {
		return nil, false
	}
	wait, sentinel := rf.Refused()
	if sentinel == nil {
		sentinel = ErrUnavailable
	}
	return &Error{Op: op, Err: sentinel, cause: err, RetryAfter: wait}, true
}

// Rate-limit groups of Extend Commerce (docs/extend.md: Extend has three,
// their membership not published). The assumption, kept here
// with the adapter's others: sales documents, products, and the rest.
const (
	RateGroupSales    = "sales"    // CustomerOrders, CustomerInvoices (and their PDFs)
	RateGroupProducts = "products" // Products, ProductGroups, ProductAvailability, ProductPrices
	RateGroupOther    = "other"    // Customers, the token request, anything else
)

// RateGroup returns the rate-limit group of a request to urlPath (the
// whole path, BaseURL's included): the group of the first path segment
// that names an Extend collection.
func RateGroup(urlPath string) string {
	for seg := range strings.SplitSeq(urlPath, "/") {
		switch seg {
		case pathOrders[1:], pathInvoices[1:]:
			return RateGroupSales
		case pathProducts[1:], pathGroups[1:], pathAvailability[1:], pathPrices[1:]:
			return RateGroupProducts
		}
	}
	return RateGroupOther
}

// headerRateLimitRemaining is the calls left in the current window.
const headerRateLimitRemaining = "X-Ratelimit-Remaining"

// ThrottleWait reads an answer's rate-limit headers as Extend sends them:
// for a 429, how long Extend asked to wait (Retry-After, else
// x-ratelimit-reset, else 1s); for any other answer that says no calls
// are left in the window (x-ratelimit-remaining: 0), the time until the
// window resets; else 0.
func ThrottleWait(status int, h http.Header, now time.Time) time.Duration {
	if status == http.StatusTooManyRequests {
		if d := retryAfter(h, now, true); d > 0 {
			return d
		}
		return time.Second
	}
	if rem := strings.TrimSpace(h.Get(headerRateLimitRemaining)); rem == "0" {
		return retryAfter(http.Header{headerRateLimitReset: h.Values(headerRateLimitReset)}, now, true)
	}
	return 0
}

// Holder is implemented by a guarding http.RoundTripper that may hold a
// call back before it sends it, waiting for the ERP's call budget, as
// erpguard.Guard does. With a Holder as the HTTP client's Transport, the
// Client starts an attempt's CallTimeout only when the Holder calls
// Sending: CallTimeout then measures the ERP alone, and the wait for
// budget is bounded by the caller's deadline and the Holder's own rules.
type Holder interface {
	http.RoundTripper
	// HoldsCalls marks the Holder; it does nothing.
	HoldsCalls()
}

// Sending tells the Client that the request whose context is ctx leaves
// for the ERP now: its attempt's CallTimeout starts. A Holder calls it
// right before passing a request on; on other contexts it does nothing.
func Sending(ctx context.Context) {
	if c, ok := ctx.Value(clockKey{}).(*attemptClock); ok {
		c.start()
	}
}

type clockKey struct{}

// attemptClock is one attempt's CallTimeout: once started, it cancels the
// attempt's context with errCallTimeout when the time is up.
type attemptClock struct {
	d      time.Duration
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

// start starts the clock, unless it is started or stopped already.
func (c *attemptClock) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t == nil && !c.stopped {
		c.t = time.AfterFunc(c.d, func() { c.cancel(errCallTimeout) })
	}
}

// stop stops the clock; false when its time was up already.
func (c *attemptClock) stop() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	return c.t == nil || c.t.Stop()
}
