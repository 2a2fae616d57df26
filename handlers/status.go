package handlers

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/pull"
)

// StatusSources feed the admin status page (GET /admin/). Each may be nil;
// the page then says so.
type StatusSources struct {
	// CircuitOpen reports whether the ERP circuit breaker is open.
	CircuitOpen func() bool
	// CacheStats are the pull service's counters since start.
	CacheStats func() *pull.Stats
	// Pushers reports every pusher's state.
	Pushers func(ctx context.Context) []PusherStatus
	// Errors holds the latest error-level log records.
	Errors *ErrorLog
}

// PusherStatus is one pusher's line on the status page.
type PusherStatus struct {
	Name        string
	State       string // e.g. "running", "idle", "failing"
	Backlog     int64
	DeadLetters int64
	LastSuccess time.Time // zero: never
	LastError   string
}

//go:embed status.html
var statusHTML string

var statusPage = template.Must(template.New("status").Parse(statusHTML))

// statusView is what status.html renders.
type statusView struct {
	Now                       time.Time
	ERPDown                   bool
	CircuitKnown, CircuitOpen bool
	Redis                     string // "": not configured; "ok"; or what failed
	Cache                     *cacheView
	Pushers                   []PusherStatus
	Errors                    []LoggedError
}

type cacheView struct {
	Hits, Misses, Stale, Coalesced, Fetches int64
	HitRatio                                string
}

// status answers GET /admin/: one server-rendered HTML page for the ops
// team (no script; it refreshes itself every 30 s).
func (h *handler) status(c echo.Context) error {
	ctx := c.Request().Context()
	src := h.d.Status
	v := statusView{Now: h.d.Now().In(h.d.Location), ERPDown: h.d.Pull.ERPDown()}
	if src.CircuitOpen != nil {
		v.CircuitKnown, v.CircuitOpen = true, src.CircuitOpen()
	}
	if h.d.Redis != nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		v.Redis = "ok"
		if err := h.d.Redis.Ping(pctx); err != nil {
			v.Redis = "down"
		}
		cancel()
	}
	if src.CacheStats != nil {
		s := src.CacheStats()
		cv := &cacheView{Hits: s.Hits.Load(), Misses: s.Misses.Load(), Stale: s.Stale.Load(),
			Coalesced: s.Coalesced.Load(), Fetches: s.Fetches.Load(), HitRatio: "–"}
		if total := cv.Hits + cv.Misses + cv.Stale; total > 0 {
			cv.HitRatio = fmt.Sprintf("%.1f %%", 100*float64(cv.Hits)/float64(total))
		}
		v.Cache = cv
	}
	if src.Pushers != nil {
		v.Pushers = src.Pushers(ctx)
	}
	if src.Errors != nil {
		v.Errors = src.Errors.Recent()
	}
	var buf bytes.Buffer
	if err := statusPage.Execute(&buf, v); err != nil {
		return fmt.Errorf("handlers: status page: %w", err)
	}
	hd := c.Response().Header()
	hd.Set(echo.HeaderCacheControl, "no-store")
	hd.Set(echo.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'")
	hd.Set(echo.HeaderXFrameOptions, "DENY")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}
