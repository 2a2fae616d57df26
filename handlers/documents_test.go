package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// pdfToken returns the token of invoice inv's pdf_link, read as Vendre
// would: from the invoice answer.
func (ev *env) pdfToken(t *testing.T, inv string) string {
	t.Helper()
	got := decode[api.Invoice](t, ev.get(t, "/v1/invoices/"+inv+"?customer_no=10001"))
	const base = "https://gw.example.test/v1/documents/"
	if !strings.HasPrefix(got.PDFLink, base) {
		t.Fatalf("pdf_link = %q, want it under %s", got.PDFLink, base)
	}
	return strings.TrimPrefix(got.PDFLink, base)
}

// TestDocument follows an invoice's pdf_link over a real connection and
// checks what a browser receives; then tries forged links.
func TestDocument(t *testing.T) {
	ev := newEnv(t)
	inv := ev.sim.Cases().PaidInvoice
	token := ev.pdfToken(t, inv)
	rec := ev.wire(t, "GET", "/v1/documents/"+token, nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "%PDF-") {
		t.Fatalf("document = %d %.10q, want 200 %%PDF-…", rec.Code, rec.Body.String())
	}
	for name, want := range map[string]string{
		"Content-Type":           "application/pdf",
		"X-Content-Type-Options": "nosniff",
		"Content-Disposition":    `inline; filename="invoice-` + inv + `.pdf"`,
		"Cache-Control":          "private, no-store",
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("document %s = %q, want %q", name, got, want)
		}
	}

	foreignInv := ev.sim.InvoiceNumbers(extendsim.CustomerOther)[0]
	bad := map[string]string{
		"altered":         token[:len(token)-2] + "xx",
		"foreign invoice": ev.links.Token(showcase, foreignInv, ev.now.Add(time.Hour)),
		"other customer":  ev.links.Token(extendsim.CustomerOther, inv, ev.now.Add(time.Hour)),
		"expired":         ev.links.Token(showcase, inv, ev.now.Add(-time.Minute)),
		"missing invoice": ev.links.Token(showcase, "999999", ev.now.Add(time.Hour)),
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			rec := ev.wire(t, "GET", "/v1/documents/"+url.PathEscape(tok), nil)
			if rec.Code != 404 || decode[api.Error](t, rec).Error.Code != "not_found" {
				t.Errorf("document %s = %d %s, want 404 not_found", name, rec.Code, rec.Body)
			}
		})
	}
}

// TestDocumentNotPDF: a "PDF" from the ERP that is something else (HTML
// would run in the gateway's origin) is a 502, never passed on.
func TestDocumentNotPDF(t *testing.T) {
	bodies := map[string]string{
		"html":  "<html><script>alert(document.cookie)</script></html>",
		"empty": "",
		"json":  `{"Message":"rendering failed"}`,
		"short": "%PDF",
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			ev := newEnv(t, withERP(servePDF([]byte(body))))
			rec := ev.wire(t, "GET", "/v1/documents/"+ev.pdfToken(t, ev.sim.Cases().PaidInvoice), nil)
			if rec.Code != http.StatusBadGateway || decode[api.Error](t, rec).Error.Code != "bad_gateway" {
				t.Fatalf("document of an ERP %s body = %d %s %q, want 502 bad_gateway", name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want the contract's JSON", ct)
			}
		})
	}
}

// bigPDF is a PDF of about n bytes: a header, comment lines, an end.
func bigPDF(n int) []byte {
	b := make([]byte, 0, n+16)
	b = append(b, "%PDF-1.4\n"...)
	line := []byte("% padding padding padding padding padding padding padding padding\n")
	for len(b) < n {
		b = append(b, line...)
	}
	return append(b, "%%EOF\n"...)
}

// servePDF answers the ERP's PDF calls with pdf, as application/pdf.
func servePDF(pdf []byte) func(http.Handler) http.Handler {
	return serveFile(func() []byte { return pdf })
}

// serveFile answers the ERP's PDF calls with what file returns then, as
// application/pdf; the simulator answers the other calls.
func serveFile(file func() []byte) func(http.Handler) http.Handler {
	return func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasSuffix(r.URL.Path, "/pdf") {
				sim.ServeHTTP(w, r)
				return
			}
			b := file()
			w.Header().Set("Content-Type", "application/pdf")
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			_, _ = w.Write(b)
		})
	}
}

// slowServer serves h over real connections whose send buffers are small,
// so that a client that stops reading soon stops the handler's writes.
// writeTimeout, if not 0, is the server's WriteTimeout.
func slowServer(t *testing.T, h http.Handler, writeTimeout ...time.Duration) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.Listener = smallBuffers{ts.Listener}
	for _, d := range writeTimeout {
		ts.Config.WriteTimeout = d
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// openSlowly sends GET target on a connection with a small receive buffer
// and returns the response, its body not read yet.
func openSlowly(t *testing.T, ts *httptest.Server, target string) (*http.Response, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: gw.example.test\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReaderSize(c, 4<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res, c
}

// TestDocumentSlowReader: a client that reads slowly gets the whole file,
// however long the ERP budget (EXTEND_TIMEOUT) is.
func TestDocumentSlowReader(t *testing.T) {
	pdf := bigPDF(5 << 20)
	ev := newEnv(t, withERP(servePDF(pdf)))
	ts := slowServer(t, ev.e)
	res, _ := openSlowly(t, ts, "/v1/documents/"+ev.pdfToken(t, ev.sim.Cases().PaidInvoice))
	if res.StatusCode != 200 || res.ContentLength != int64(len(pdf)) {
		t.Fatalf("document = %d, Content-Length %d; want 200, %d", res.StatusCode, res.ContentLength, len(pdf))
	}
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // longer than the ERP budget of newEnv (2s)
	rest, err := io.ReadAll(res.Body)
	if got := len(head) + len(rest); err != nil || got != len(pdf) {
		t.Fatalf("read %d of %d bytes (%v), want the whole file", got, len(pdf), err)
	}
	if !bytes.Equal(append(head, rest...), pdf) {
		t.Error("the file read differs from the ERP's")
	}
}

// TestDocumentOutlivesWriteTimeout: the server's WriteTimeout suits JSON
// answers; a PDF is given the time a slow download needs, through the
// telemetry wrapper that cmd/gateway puts around the router.
func TestDocumentOutlivesWriteTimeout(t *testing.T) {
	pdf := bigPDF(1 << 20)
	ev := newEnv(t, withERP(servePDF(pdf)))
	ts := slowServer(t, otelhttp.NewHandler(ev.e, "gateway"), 300*time.Millisecond)
	res, _ := openSlowly(t, ts, "/v1/documents/"+ev.pdfToken(t, ev.sim.Cases().PaidInvoice))
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // past the server's WriteTimeout
	rest, err := io.ReadAll(res.Body)
	if got := len(head) + len(rest); err != nil || got != len(pdf) {
		t.Fatalf("read %d of %d bytes (%v), want the whole file", got, len(pdf), err)
	}
}

// TestDocumentCutLogged: a download that ends early (the client went away)
// is logged as an error, not as a 200 like any other.
func TestDocumentCutLogged(t *testing.T) {
	logs := &records{}
	ev := newEnv(t, withERP(servePDF(bigPDF(5<<20))), withLogger(slog.New(logs)))
	ts := slowServer(t, ev.e)
	res, c := openSlowly(t, ts, "/v1/documents/"+ev.pdfToken(t, ev.sim.Cases().PaidInvoice))
	if _, err := io.ReadFull(res.Body, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range logs.all() {
			if r.Message == "request" && r.Level >= slog.LevelError && strings.Contains(r.attrs, "/v1/documents/") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error logged for a download cut short; logged:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDocumentCached: opening a PDF again costs no ERP call, nor does
// opening it right after the invoice answer that holds its link, nor do
// many opening it at once.
func TestDocumentCached(t *testing.T) {
	ev := newEnv(t)
	inv := ev.sim.Cases().PaidInvoice
	token := ev.pdfToken(t, inv)
	ev.sim.ResetCalls()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if rec := ev.do(t, "GET", "/v1/documents/"+token, nil); rec.Code != 200 {
				t.Errorf("document = %d %s", rec.Code, rec.Body)
			}
		})
	}
	wg.Wait()
	rec := ev.do(t, "GET", "/v1/documents/"+token, nil)
	if rec.Code != 200 || rec.Header().Get("X-Cache") != "HIT" {
		t.Errorf("document again = %d, X-Cache %q; want 200 HIT", rec.Code, rec.Header().Get("X-Cache"))
	}
	if n, m := ev.sim.Calls(extendsim.OpInvoicePDF), ev.sim.Calls(extendsim.OpInvoice); n != 1 || m != 0 {
		t.Errorf("11 downloads after the invoice answer cost %d PDF and %d invoice calls, want 1 and 0", n, m)
	}
}

// records is a slog.Handler that keeps every record.
type records struct {
	mu   sync.Mutex
	recs []record
}

type record struct {
	Level   slog.Level
	Message string
	attrs   string
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *records) WithGroup(string) slog.Handler            { return h }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	h.recs = append(h.recs, record{r.Level, r.Message, b.String()})
	h.mu.Unlock()
	return nil
}

func (h *records) all() []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]record(nil), h.recs...)
}

func (h *records) String() string {
	var b strings.Builder
	for _, r := range h.all() {
		fmt.Fprintf(&b, "%s %s%s\n", r.Level, r.Message, r.attrs)
	}
	return b.String()
}
