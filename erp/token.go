package erp

import (
	"context"
	"sync"
	"time"
)

// Token lifetime handling.
const (
	tokenMargin     = 30 * time.Second // stop using a token this long before it expires
	tokenDefaultTTL = 5 * time.Minute  // when the token answer gives no expires_in
)

// tokenCache holds the current access token. Readers take mu briefly; a
// fetch holds sem, so callers that find no usable token wait for the one
// fetch in flight (or for their ctx) instead of each fetching their own.
type tokenCache struct {
	mu  sync.Mutex
	tok string
	exp time.Time // the token is not used from this instant on

	sem chan struct{} // capacity 1: held while fetching
}

// peek returns the cached token and when it stops being used.
func (t *tokenCache) peek() (string, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tok, t.exp
}

func (t *tokenCache) store(tok string, exp time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tok, t.exp = tok, exp
}

// cachedToken returns the cached token if it is still fresh and is not
// stale, the token Extend just refused; otherwise "".
func (c *Client) cachedToken(stale string) string {
	tok, exp := c.tokens.peek()
	if tok == "" || tok == stale || !c.now().Before(exp) {
		return ""
	}
	return tok
}

// token returns an access token, fetching a new one when none is cached,
// the cached one is about to expire, or it equals stale. Concurrent callers
// share one fetch. Errors are those of fetchToken, or ErrTimeout when ctx
// ends while waiting.
func (c *Client) token(ctx context.Context, stale string) (string, error) {
	if tok := c.cachedToken(stale); tok != "" {
		return tok, nil
	}
	select {
	case c.tokens.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctxError(opToken, ctx.Err(), 0)
	}
	defer func() { <-c.tokens.sem }()
	// Another caller may have fetched one while we waited.
	if tok := c.cachedToken(stale); tok != "" {
		return tok, nil
	}
	tok, ttl, err := c.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	if ttl <= 0 {
		ttl = tokenDefaultTTL
	}
	c.tokens.store(tok, c.now().Add(ttl-min(tokenMargin, ttl/2)))
	return tok, nil
}
