package erp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vendre-extend/gateway/clip"
	"github.com/vendre-extend/gateway/retry"
)

// Config configures a Client. Only BaseURL is required; zero values take the
// defaults named on each field.
type Config struct {
	// BaseURL is the absolute http(s) URL every Extend path is relative to,
	// e.g. https://erp.example.test/api/v1 (EXTEND_BASE_URL).
	BaseURL string
	// ClientID and ClientSecret are the OAuth2 client credentials. The
	// secret is never logged nor put in an error.
	ClientID     string
	ClientSecret string
	// CallTimeout bounds one HTTP attempt (headers and JSON body); the
	// caller's context deadline still bounds the whole call. Default 2s.
	CallTimeout time.Duration
	// MaxRetries is how many times a failed GET (or token request) is
	// repeated after the first attempt. Default 2; negative means none.
	MaxRetries int
	// Concurrency bounds the record fetches Orders and Invoices run at
	// once. Default 8.
	Concurrency int
	// HTTPClient, when set, is used as is (its redirect policy included).
	// Nil means the client's own, with dial, TLS and idle timeouts, up to 64
	// idle connections to Extend, and redirects not followed.
	HTTPClient *http.Client
	// Logger receives retries at debug level. Nil discards.
	Logger *slog.Logger
	// UserAgent is sent on every request. Default "vendre-extend-gateway".
	UserAgent string
}

// Config defaults.
const (
	DefaultCallTimeout = 2 * time.Second
	DefaultMaxRetries  = 2
	DefaultConcurrency = 8
	defaultUserAgent   = "vendre-extend-gateway"
)

// Size caps for response bodies read into memory.
const (
	maxJSONBody  = 8 << 20  // a record or a list page
	maxErrorBody = 64 << 10 // an error body; also what is drained before close
)

// Client calls Extend Commerce. It is safe for concurrent use; make one per
// process and share it (it caches the access token and keeps connections).
type Client struct {
	base        string // BaseURL without a trailing slash
	clientID    string
	secret      string
	hc          *http.Client
	log         *slog.Logger
	userAgent   string
	callTimeout time.Duration
	maxRetries  int
	concurrency int

	// Retry pacing (retry.Policy's Base and Max); tests shorten them.
	backoffBase time.Duration // first backoff interval
	backoffCap  time.Duration // largest backoff interval
	// maxWait is the longest 429 wait taken when ctx has no deadline.
	maxWait time.Duration

	now    func() time.Time // token expiry clock; tests replace it
	tokens tokenCache
	// held: the transport is a Holder, which starts each attempt's
	// CallTimeout when it sends the call (guard.go).
	held bool
}

// New returns a Client for cfg. It fails when BaseURL is not an absolute
// http or https URL without credentials, query or fragment. It makes no
// network call (see Ping).
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("erp: BaseURL must be an absolute http(s) URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("erp: BaseURL %s must not carry credentials, a query or a fragment", u.Redacted())
	}
	c := &Client{
		base:        strings.TrimRight(u.String(), "/"),
		clientID:    cfg.ClientID,
		secret:      cfg.ClientSecret,
		hc:          cfg.HTTPClient,
		log:         cfg.Logger,
		userAgent:   cfg.UserAgent,
		callTimeout: cfg.CallTimeout,
		maxRetries:  cfg.MaxRetries,
		concurrency: cfg.Concurrency,
		backoffBase: 50 * time.Millisecond,
		backoffCap:  time.Second,
		maxWait:     time.Minute,
		now:         time.Now,
		tokens:      tokenCache{sem: make(chan struct{}, 1)},
	}
	if c.hc == nil {
		c.hc = newHTTPClient()
	}
	_, c.held = c.hc.Transport.(Holder)
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent
	}
	if c.callTimeout <= 0 {
		c.callTimeout = DefaultCallTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.concurrency <= 0 {
		c.concurrency = DefaultConcurrency
	}
	return c, nil
}

// newHTTPClient returns a client with the timeouts of hashicorp's
// go-cleanhttp pooled transport, sized for one busy upstream host, that does
// not follow redirects (Extend has no reason to send one; a redirect to a
// login page must fail as ErrBadResponse rather than decode as garbage).
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   5 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// request is one logical call to Extend, possibly made in several attempts.
type request struct {
	method      string
	path        string     // escaped, relative to the base URL: /CustomerOrders/123
	query       url.Values // nil for none
	body        []byte     // nil for none
	contentType string     // of body
	accept      string     // default application/json
	noAuth      bool       // no bearer token (the token request itself)
	tokenCall   bool       // 4xx means the credentials were refused
	retry       bool       // retry transient failures: GETs and the token call only
	stream      bool       // hand the body to the caller instead of reading it
}

func (r *request) op() string { return r.method + " " + r.path }

// response is a 2xx answer: body read (at most maxJSONBody), or stream open.
type response struct {
	status int
	header http.Header
	body   []byte
	stream io.ReadCloser // when request.stream; the caller closes it
}

// do makes r, retrying as the error types ask: a 401 renews the token once
// and repeats once; transient failures (429, 5xx, timeouts, broken
// connections) are retried up to maxRetries times when r.retry, never past
// ctx's deadline, waiting as Extend's Retry-After says or else by the
// gateway's retry policy (package retry). Every error is an *Error.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	var stale string // a token Extend refused
	renewed := false
	pace := retry.Policy{Base: c.backoffBase, Max: c.backoffCap}.BackOff()
	for attempt := 1; ; attempt++ {
		var tok string
		if !r.noAuth {
			t, err := c.token(ctx, stale)
			if err != nil {
				return nil, err
			}
			tok = t
		}
		res, e := c.attempt(ctx, r, tok)
		if e == nil {
			return res, nil
		}
		if e.Status == http.StatusUnauthorized && tok != "" {
			if !renewed {
				// Revoked token: renew once, repeat once; not a retry.
				renewed, stale = true, tok
				attempt--
				continue
			}
			e.Err = ErrUnauthorized
		}
		e.attempts = attempt
		if !e.retry || !r.retry || attempt > c.maxRetries {
			return nil, e
		}
		wait := pace.NextBackOff()
		if e.RetryAfter > 0 {
			wait = e.RetryAfter
		}
		if !c.fits(ctx, wait) {
			return nil, e
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "erp retry",
			slog.String("op", r.op()), slog.Int("attempt", attempt),
			slog.Int("status", e.Status), slog.String("error", e.Error()),
			slog.Duration("wait", wait))
		if err := sleep(ctx, wait); err != nil {
			return nil, ctxError(r.op(), err, attempt)
		}
	}
}

// attempt makes one HTTP exchange, bounded by c.callTimeout (and ctx). A
// 2xx answer is a *response; anything else an *Error.
func (c *Client) attempt(ctx context.Context, r *request, tok string) (*response, *Error) {
	actx, cancel := context.WithCancelCause(ctx)
	clock := &attemptClock{d: c.callTimeout, cancel: cancel}
	if c.held {
		actx = context.WithValue(actx, clockKey{}, clock) // started by Sending
	} else {
		clock.start()
	}
	done := func() {
		clock.stop()
		cancel(nil)
	}

	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, body)
	if err != nil {
		done()
		return nil, &Error{Op: r.op(), Err: ErrValidation, cause: errors.New("cannot build request")}
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		done()
		return nil, c.transportError(ctx, actx, r.op(), err)
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok && r.stream {
		// From here the caller's ctx alone bounds the body, unless the
		// timer fired just now and cancelled the attempt.
		if !clock.stop() {
			drainClose(resp.Body)
			cancel(nil)
			return nil, c.transportError(ctx, actx, r.op(), context.Cause(actx))
		}
		return &response{
			status: resp.StatusCode,
			header: resp.Header,
			stream: &streamBody{rc: resp.Body, cancel: cancel},
		}, nil
	}
	limit := int64(maxErrorBody)
	if ok {
		limit = maxJSONBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	drainClose(resp.Body)
	done()
	if err != nil {
		e := c.transportError(ctx, actx, r.op(), err)
		e.Status = resp.StatusCode
		return nil, e
	}
	if !ok {
		if int64(len(b)) > limit {
			b = nil // a truncated error body is not JSON; ignore it
		}
		return nil, c.statusError(r, resp.StatusCode, resp.Header, b)
	}
	if int64(len(b)) > limit {
		return nil, &Error{Op: r.op(), Status: resp.StatusCode, Err: ErrBadResponse,
			cause: fmt.Errorf("body larger than %d bytes", limit)}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// errCallTimeout is the cancel cause of an attempt that ran out of
// CallTimeout.
var errCallTimeout = errors.New("call timeout")

// transportError classifies a failure to get or read a response: the
// caller's ctx ending, the attempt's own timeout, or a broken connection.
func (c *Client) transportError(ctx, actx context.Context, op string, err error) *Error {
	if cerr := ctx.Err(); cerr != nil {
		return ctxError(op, cerr, 0)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // drop the URL: op names the call already
	}
	if e, ok := refusalError(op, err); ok {
		return e // refused by the transport (guard.go): not retried
	}
	if errors.Is(context.Cause(actx), errCallTimeout) {
		return &Error{Op: op, Err: ErrTimeout, cause: fmt.Errorf("no answer within %s", c.callTimeout), retry: true}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Op: op, Err: ErrTimeout, cause: err, retry: true}
	}
	return &Error{Op: op, Err: ErrUnavailable, cause: err, retry: true}
}

// ctxError is the *Error for a call whose ctx ended: ErrTimeout at its
// deadline, context.Canceled when the caller gave up.
func ctxError(op string, err error, attempts int) *Error {
	e := &Error{Op: op, Err: err, cause: err, attempts: attempts}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Err = ErrTimeout
	} else {
		e.cause = nil
	}
	return e
}

// statusError is the *Error for a non-2xx answer.
func (c *Client) statusError(r *request, status int, h http.Header, body []byte) *Error {
	eb := parseErrorBody(body)
	e := &Error{
		Op:      r.op(),
		Status:  status,
		Type:    eb.ErrorType,
		Message: c.redact(clip.String(eb.Message, 300)),
	}
	for i, f := range eb.Errors {
		if i == 10 {
			break
		}
		e.Fields = append(e.Fields, FieldError{Field: clip.String(f.Field, 80), Message: c.redact(clip.String(f.Message, 200))})
	}
	e.Err, e.retry = classifyStatus(status, r.tokenCall)
	if e.retry {
		e.RetryAfter = retryAfter(h, c.now(), status == http.StatusTooManyRequests)
	}
	return e
}

// redact removes the client secret and the current token from s, in case
// Extend echoes them in an error message.
func (c *Client) redact(s string) string {
	if c.secret != "" {
		s = strings.ReplaceAll(s, c.secret, "[redacted]")
	}
	if tok, _ := c.tokens.peek(); tok != "" {
		s = strings.ReplaceAll(s, tok, "[redacted]")
	}
	return s
}

// fits reports whether waiting d still leaves time before ctx's deadline
// (or, without a deadline, whether d is at most maxWait).
func (c *Client) fits(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return d <= c.maxWait
	}
	return time.Now().Add(d).Before(deadline)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// drainClose reads a little of what is left of body, so the connection can
// be reused, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxErrorBody))
	_ = body.Close()
}

// streamBody is a streamed response body; Close also releases the attempt's
// context.
type streamBody struct {
	rc     io.ReadCloser
	cancel context.CancelCauseFunc
}

func (s *streamBody) Read(p []byte) (int, error) { return s.rc.Read(p) }

func (s *streamBody) Close() error {
	err := s.rc.Close()
	s.cancel(nil)
	return err
}

// getJSON GETs path with query and decodes the answer into a T.
func getJSON[T any](ctx context.Context, c *Client, path string, query url.Values) (T, error) {
	r := &request{method: http.MethodGet, path: path, query: query, retry: true}
	var v T
	res, err := c.do(ctx, r)
	if err != nil {
		return v, err
	}
	if err := decode(res.body, &v); err != nil {
		return v, &Error{Op: r.op(), Status: res.status, Err: ErrBadResponse, cause: err}
	}
	return v, nil
}

// fetchEach is the "get list, then record by record" pattern: for each
// header, reuse the caller's copy when it has one, else fetch the record;
// at most c.concurrency at once, results in header order, the first error
// cancelling the rest.
func fetchEach[H, R any](ctx context.Context, c *Client, headers []H,
	reuse func(H) (R, bool), fetch func(context.Context, H) (R, error)) ([]R, error) {
	out := make([]R, len(headers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.concurrency)
	for i, h := range headers {
		g.Go(func() error {
			if gctx.Err() != nil {
				return gctx.Err() // an earlier fetch failed
			}
			if reuse != nil {
				if rec, ok := reuse(h); ok {
					out[i] = rec
					return nil
				}
			}
			rec, err := fetch(gctx, h)
			if err != nil {
				return err
			}
			out[i] = rec
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
