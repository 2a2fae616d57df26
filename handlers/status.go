package handlers

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/cache"
)

// StatusSources feed the admin status page (GET /admin/). Each may be nil;
// the page then says so.
type StatusSources struct {
	// CacheStats are the cache's counters since start.
	CacheStats func() *cache.Stats
	// Pushers reports every pusher's state.
	Pushers func(ctx context.Context) []PusherStatus
	// Errors holds the latest error-level log records.
	Errors *ErrorLog
	// ERPCalls reports the ERP calls sent and refused by class since
	// start, this replica's (the guard's).
	ERPCalls func() []ClassCalls
	// SweepEvery is the period of the sweep of Extend's changes
	// (CACHE_SWEEP_EVERY), and Confirmed the time up to which every
	// change is known (cache.Cache.Confirmed); 0 and nil: no sweep.
	SweepEvery time.Duration
	Confirmed  func() time.Time
}

// ClassCalls are the ERP calls of one class (erp.Class's name) that the
// guard sent and refused.
type ClassCalls struct {
	Class         string
	Sent, Refused int64
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
	Now         time.Time
	ERP         string // "": not known; "ok" or "down"
	Redis       string // "": not configured; "ok" or "down"
	Cache       *cacheView
	Sweep       *sweepView
	Pushers     []PusherStatus
	Errors      []LoggedError
	Paused      []pausedGroup // nil: none, or no guard
	PausesKnown bool
	ERPCalls    []ClassCalls
}

// pausedGroup is an Extend rate-limit group paused at Extend's request.
type pausedGroup struct {
	Group string
	Left  string
}

type sweepView struct {
	Every     string
	Confirmed string // "": never yet
	Behind    string // how long ago
	Late      bool   // further behind than a period and the time a sweep takes
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
	v := statusView{Now: h.d.Now().In(h.d.Location)}
	if h.d.ERP != nil {
		v.ERP = upDown(h.d.ERP.Open())
	}
	if h.d.Redis != nil {
		v.Redis = upDown(h.d.Redis.RedisDown())
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
	if src.SweepEvery > 0 && src.Confirmed != nil {
		sv := &sweepView{Every: src.SweepEvery.String()}
		if t := src.Confirmed(); !t.IsZero() {
			behind := v.Now.Sub(t).Truncate(time.Second)
			sv.Confirmed, sv.Behind = t.In(h.d.Location).Format("2006-01-02 15:04:05 MST"), behind.String()
			sv.Late = behind > src.SweepEvery+min(src.SweepEvery/10, 10*time.Second)
		}
		v.Sweep = sv
	}
	if src.Pushers != nil {
		v.Pushers = src.Pushers(ctx)
	}
	if h.d.Pauses != nil {
		v.PausesKnown = true
		for g, d := range h.d.Pauses.Paused(ctx) {
			v.Paused = append(v.Paused, pausedGroup{Group: g, Left: d.Round(time.Second).String()})
		}
		slices.SortFunc(v.Paused, func(a, b pausedGroup) int { return strings.Compare(a.Group, b.Group) })
	}
	if src.ERPCalls != nil {
		v.ERPCalls = src.ERPCalls()
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

// upDown names a part's state on the status page.
func upDown(down bool) string {
	if down {
		return "down"
	}
	return "ok"
}
