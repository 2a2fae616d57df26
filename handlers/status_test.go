package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/handlers"
)

// pauses is a guard's pauses: Resume lifts them.
type pauses struct{ groups map[string]time.Duration }

func (p *pauses) Resume(context.Context) error { p.groups = nil; return nil }

func (p *pauses) Paused(context.Context) map[string]time.Duration { return p.groups }

// TestResumeERP: the operator lifts Extend's pauses with the admin token.
func TestResumeERP(t *testing.T) {
	ev := newEnv(t)
	p := &pauses{groups: map[string]time.Duration{"sales": time.Minute}}
	e := handlers.New(handlers.Deps{Pull: ev.svc, APIKeys: []string{testKey}, AdminToken: testAdmin, Pauses: p})
	for _, auth := range []string{"", "Bearer nope", "Bearer " + testKey} {
		req := httptest.NewRequest(http.MethodPost, "/admin/erp/resume", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || p.groups == nil {
			t.Errorf("resume with %q = %d (pauses %v), want 401 and the pause kept", auth, rec.Code, p.groups)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/admin/erp/resume", nil)
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"resumed":true}` || p.groups != nil {
		t.Errorf("resume = %d %s (pauses %v), want 200 {\"resumed\":true} and none left", rec.Code, rec.Body, p.groups)
	}
}

// statusEnv is a gateway whose admin status page has every source: the
// cache's counters, the ERP's circuit, two pushers and an error log holding
// one 5xx and one error with HTML in it.
func statusEnv(t *testing.T) (*env, *echo.Echo) {
	t.Helper()
	ev := newEnv(t, withGuard())
	errs := handlers.NewErrorLog(10)
	log := slog.New(errs.Handler(slog.DiscardHandler))
	log.Info("not kept")
	log.Error("request failed", "method", "GET", "path", "/v1/orders/:id", "status", 502,
		"err", errors.New("pull: answer fails its schema: /rows/0/price"), "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")
	log.With("pusher", "orders").Error("batch failed", "err", errors.New(`shop said <script>alert("x")</script>`))
	e := handlers.New(handlers.Deps{
		Pull: ev.svc, ERP: ev.guard, APIKeys: []string{testKey}, AdminToken: testAdmin, Now: ev.clock.Now, Logger: log,
		Status: handlers.StatusSources{
			CacheStats: ev.svc.Stats, SweepEvery: sweepEvery, Confirmed: ev.cache.Confirmed,
			Pushers: func(context.Context) []handlers.PusherStatus {
				return []handlers.PusherStatus{
					{Name: "stock", State: "running", Backlog: 12, LastSuccess: ev.now.Add(-time.Minute)},
					{Name: "orders", State: "failing", Backlog: 3, DeadLetters: 2, LastError: "shop answered 500"},
				}
			},
			Errors: errs,
			ERPCalls: func() []handlers.ClassCalls {
				return []handlers.ClassCalls{{Class: "interactive", Sent: 40}, {Class: "background", Sent: 9, Refused: 7}}
			},
		},
		Pauses: &pauses{groups: map[string]time.Duration{"sales": 4 * time.Minute}},
	})
	// A miss, a hit and a stale serve, for the cache figures.
	for _, d := range []time.Duration{0, 0, 2 * time.Minute} {
		ev.clock.Advance(d)
		req := httptest.NewRequest(http.MethodGet, "/v1/orders?customer_no=10001", nil)
		req.Header.Set("X-Api-Key", testKey)
		e.ServeHTTP(httptest.NewRecorder(), req)
	}
	return ev, e
}

func TestStatusPage(t *testing.T) {
	_, e := statusEnv(t)
	tests := []struct {
		name, auth string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"api key is not an admin token", "Bearer " + testKey, http.StatusUnauthorized},
		{"admin token", "Bearer " + testAdmin, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header map[string]string
			if tt.auth != "" {
				header = map[string]string{"Authorization": tt.auth}
			}
			rec := wire(t, e, http.MethodGet, "/admin/", header)
			if rec.Code != tt.want {
				t.Fatalf("GET /admin/ = %d, want %d", rec.Code, tt.want)
			}
			if tt.want != http.StatusOK {
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q", ct)
			}
			body := rec.Body.String()
			for _, want := range []string{
				`id="erp"`, "reachable", "circuit closed",
				`<span class="warn">sales</span> paused 4m0s more`, "gateway erp resume",
				`background: 9 / <span class="warn">7</span>`,
				`id="cache"`, "33.3 %", // 1 hit of 3
				"Change sweep", "every 5m0s", "no sweep yet",
				`id="pushers"`, "stock", "orders", `<span class="bad">2</span>`,
				`id="errors"`, "request failed", "status=502", "trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
				"pusher=orders", "&lt;script&gt;",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			for _, leak := range []string{testAdmin, testKey, "<script>", "not kept"} {
				if strings.Contains(body, leak) {
					t.Errorf("page contains %q", leak)
				}
			}
		})
	}
}

// TestStatusPageChromium renders the page in headless Chromium (Debian's
// chromium): the DOM it builds has every section, and its screenshot is
// kept in the test's artifact directory (go test -artifacts).
func TestStatusPageChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (apt-get install -y chromium)")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium); skipped outside CI")
	}
	_, e := statusEnv(t)
	// Chromium cannot send the bearer token from the command line: the
	// test server adds it, as an authenticating proxy would.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+testAdmin)
		e.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/admin/"
	chromium := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--no-first-run", "--user-data-dir=" + t.TempDir(), "--window-size=1200,900"}, args...)
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, append(args, url)...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}

	dom := string(chromium("--dump-dom"))
	for _, want := range []string{`id="erp"`, `id="cache"`, `id="pushers"`, `id="errors"`, "Vendre ⇄ Extend Commerce gateway"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}

	shot := filepath.Join(t.ArtifactDir(), "admin-status.png")
	chromium("--screenshot=" + shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	// A rendered page has more than one colour: the dark header and the
	// light body at least.
	b := img.Bounds()
	colours := map[uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if b.Dx() != 1200 || len(colours) < 3 {
		t.Errorf("screenshot %v with %d colours: the page did not render", b, len(colours))
	}
	t.Logf("screenshot: %s", shot)
}
