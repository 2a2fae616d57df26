package erp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testID     = "gateway-test"
	testSecret = "s3cr3t-Ab9-never-shown"
	apiPrefix  = "/api/v1" // the fake's BaseURL path, to test joining
)

// fakeExtend is the test double of Extend Commerce, in the style of
// go-github's setup: tests register handlers for the paths they exercise
// (each checks method, path and the bearer token); the token endpoint is
// built in and issues tok-1, tok-2, ...
type fakeExtend struct {
	t   *testing.T
	mux *http.ServeMux
	srv *httptest.Server
	log bytes.Buffer // the client's log output
	mu  sync.Mutex   // guards log

	tokenCalls  atomic.Int32
	tokenDelay  time.Duration
	tokenStatus int    // non-zero: the token endpoint answers this
	tokenBody   string // with this body
	expiresIn   int
}

// setup starts a fake Extend and a Client for it with cfg's tuning; retry
// backoff is shortened to milliseconds.
func setup(t *testing.T, cfg Config) (*Client, *fakeExtend) {
	t.Helper()
	f := &fakeExtend{t: t, mux: http.NewServeMux(), expiresIn: 3600}
	f.mux.HandleFunc("POST "+apiPrefix+pathToken, f.serveToken)
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
	})
	f.srv = httptest.NewServer(f.mux)
	t.Cleanup(f.srv.Close)

	cfg.BaseURL = f.srv.URL + apiPrefix + "/"
	cfg.ClientID, cfg.ClientSecret = testID, testSecret
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&f.mu, &f.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.backoffBase, c.backoffCap = time.Millisecond, 5*time.Millisecond
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		checkNoSecret(t, "log", f.log.String())
	})
	return c, f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fakeExtend) serveToken(w http.ResponseWriter, r *http.Request) {
	t := f.t
	if ct := r.Header.Get("Content-Type"); ct != contentTypeForm {
		t.Errorf("token request Content-Type = %q, want %q", ct, contentTypeForm)
	}
	if err := r.ParseForm(); err != nil {
		t.Errorf("token request form: %v", err)
	}
	for k, want := range map[string]string{"grant_type": "client_credentials", "client_id": testID, "client_secret": testSecret} {
		if got := r.PostForm.Get(k); got != want {
			t.Errorf("token request %s = %q, want %q", k, got, want)
		}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		t.Errorf("token request Authorization = %q, want none", h)
	}
	n := f.tokenCalls.Add(1)
	if f.tokenDelay > 0 {
		time.Sleep(f.tokenDelay)
	}
	w.Header().Set("Content-Type", "application/json")
	if f.tokenStatus != 0 {
		w.WriteHeader(f.tokenStatus)
		io.WriteString(w, f.tokenBody)
		return
	}
	fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, f.expiresIn)
}

// handle registers h for pattern ("GET /CustomerOrders/{n}", relative to
// the base URL); the wrapper checks the bearer token is the latest issued.
func (f *fakeExtend) handle(pattern string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	f.mux.HandleFunc(method+" "+apiPrefix+path, func(w http.ResponseWriter, r *http.Request) {
		want := fmt.Sprintf("Bearer tok-%d", f.tokenCalls.Load())
		if got := r.Header.Get("Authorization"); got != want {
			f.t.Errorf("%s %s: Authorization = %q, want %q", r.Method, r.URL.Path, got, want)
		}
		if ua := r.Header.Get("User-Agent"); ua != defaultUserAgent {
			f.t.Errorf("%s %s: User-Agent = %q, want %q", r.Method, r.URL.Path, ua, defaultUserAgent)
		}
		h(w, r)
	})
}

// fixture returns testdata/name.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serveFixture answers status with testdata/name as JSON.
func serveFixture(t testing.TB, status int, name string) http.HandlerFunc {
	b := fixture(t, name)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b)
	}
}

func testQuery(t *testing.T, r *http.Request, want url.Values) {
	t.Helper()
	if diff := cmp.Diff(want, r.URL.Query()); diff != "" {
		t.Errorf("%s %s query mismatch (-want +got):\n%s", r.Method, r.URL.Path, diff)
	}
}

// checkNoSecret fails when s holds the client secret or an access token.
func checkNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{testSecret, "tok-"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s contains %q: %s", what, bad, s)
		}
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestNew(t *testing.T) {
	tests := []struct {
		base     string
		wantBase string // "" when New must fail
	}{
		{"https://erp.example.test/api/v1", "https://erp.example.test/api/v1"},
		{"http://127.0.0.1:8081/api/", "http://127.0.0.1:8081/api"},
		{"", ""},
		{"erp.example.test/api", ""},
		{"ftp://erp.example.test/", ""},
		{"https://", ""},
		{"https://user:p4ssw0rd@erp.example.test/", ""},
		{"https://erp.example.test/api?key=1", ""},
		{"://bad", ""},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			c, err := New(Config{BaseURL: tt.base, ClientSecret: testSecret})
			if tt.wantBase == "" {
				if err == nil {
					t.Fatalf("New(%q) = nil error, want one", tt.base)
				}
				if strings.Contains(err.Error(), "p4ssw0rd") || strings.Contains(err.Error(), testSecret) {
					t.Errorf("New(%q) error %q reveals a secret", tt.base, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q) = %v", tt.base, err)
			}
			if c.base != tt.wantBase {
				t.Errorf("New(%q) base = %q, want %q", tt.base, c.base, tt.wantBase)
			}
			if c.callTimeout != DefaultCallTimeout || c.maxRetries != DefaultMaxRetries || c.concurrency != DefaultConcurrency {
				t.Errorf("New(%q) defaults = %v, %d, %d", tt.base, c.callTimeout, c.maxRetries, c.concurrency)
			}
		})
	}
}

func TestOrderHeaders(t *testing.T) {
	since := time.Date(2024, 5, 1, 8, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name      string
		q         ListQuery
		wantQuery url.Values // nil: no call expected
		wantErr   error
	}{
		{name: "no filters", q: ListQuery{}, wantQuery: url.Values{}},
		{
			name: "all filters",
			q:    ListQuery{CustomerNumber: "K10023", From: "2024-01-01", To: "2024-05-31", ChangedSince: since, Page: 2, PageSize: 500},
			wantQuery: url.Values{
				"customerNumber": {"K10023"}, "orderDateFrom": {"2024-01-01"}, "orderDateTo": {"2024-05-31"},
				"changedSince": {"2024-05-01T06:00:00Z"}, "page": {"2"}, "pageSize": {"100"},
			},
		},
		{name: "bad date", q: ListQuery{From: "2024-13-01"}, wantErr: ErrValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := setup(t, Config{})
			f.handle("GET /CustomerOrders", func(w http.ResponseWriter, r *http.Request) {
				if tt.wantQuery == nil {
					t.Errorf("unexpected call")
				}
				testQuery(t, r, tt.wantQuery)
				serveFixture(t, 200, "orders_page.json")(w, r)
			})
			got, err := c.OrderHeaders(t.Context(), tt.q)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("OrderHeaders(%+v) error = %v, want %v", tt.q, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			want := Page[OrderHeader]{
				Items: []OrderHeader{
					{OrderNumber: "1003", OrderDate: "2024-05-14", ChangedAt: "2024-05-14T09:12:44Z"},
					{OrderNumber: "1001", OrderDate: "2024-05-02", ChangedAt: "2024-05-06T13:40:02Z"},
					{OrderNumber: "0998", OrderDate: "2024-04-29", ChangedAt: "2024-04-30T07:00:00Z"},
				},
				Page: 1, PageSize: 3, TotalCount: 57,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("OrderHeaders(%+v) mismatch (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

func TestInvoiceHeaders(t *testing.T) {
	c, f := setup(t, Config{})
	f.handle("GET /CustomerInvoices", func(w http.ResponseWriter, r *http.Request) {
		testQuery(t, r, url.Values{"customerNumber": {"K10023"}, "invoiceDateFrom": {"2024-05-01"}, "invoiceDateTo": {"2024-05-31"}, "pageSize": {"100"}})
		serveFixture(t, 200, "invoices_page.json")(w, r)
	})
	got, err := c.InvoiceHeaders(t.Context(), ListQuery{CustomerNumber: "K10023", From: "2024-05-01", To: "2024-05-31", PageSize: 100})
	if err != nil {
		t.Fatalf("InvoiceHeaders: %v", err)
	}
	if len(got.Items) != 2 || got.Items[0].InvoiceNumber != "50031" || got.TotalCount != 2 {
		t.Errorf("InvoiceHeaders = %+v, want 2 items starting with 50031", got)
	}
}

// wantOrderFull is testdata/order_full.json decoded.
var wantOrderFull = Order{
	OrderNumber:         "1001",
	ExternalOrderNumber: "VS-20240502-0042",
	CustomerNumber:      "K10023",
	OrderDate:           "2024-05-02",
	ChangedAt:           "2024-05-06T13:40:02Z",
	Status:              StatusPicked,
	YourReference:       "Anna Lind",
	OurReference:        "Per Ek",
	PurchaseOrderNumber: "PO-7781",
	Comment:             "Leverans via port 3, ring 15 min innan.",
	Currency:            "SEK",
	TotalExclVat:        748425,
	TotalVat:            178120,
	TotalInclVat:        926545,
	ShippingCost:        9900,
	VatLines:            []VatLine{{Rate: 25, Amount: 169826}, {Rate: 12, Amount: 8294}},
	Customer: Customer{
		CustomerNumber: "K10023", Name: "Kontorsvaruhuset i Norr AB", Reference: "Anna Lind",
		Address1: "Storgatan 12", ZipCode: "903 26", City: "Umeå", CountryCode: "SE",
	},
	DeliveryAddress: Address{
		Name: "Kontorsvaruhuset i Norr AB, Lager", Reference: "Godsmottagningen",
		Address1: "Industrivägen 4", Address2: "Port 3", ZipCode: "903 61", City: "Umeå", CountryCode: "SE",
	},
	Rows: []Row{
		{RowNumber: 1, ProductNumber: "10-4410", Description: "Kopieringspapper A4 80 g, 500 ark", Quantity: 10, DeliveredQuantity: 6, BackorderQuantity: 4, UnitPrice: 5490, DiscountAmount: 2745, RowTotal: 52155},
		{RowNumber: 2, ProductNumber: "KAFFE-500", Description: "Kaffe mellanrost 500 g", Quantity: 12, DeliveredQuantity: 12, UnitPrice: 6400, DiscountAmount: 7680, RowTotal: 69120},
		{RowNumber: 3, ProductNumber: "10-2250", Description: "Gaffelpärm A4 blå", Quantity: 5, BackorderQuantity: 5, UnitPrice: 123450, RowTotal: 617250},
	},
	Shipments: []Shipment{
		{ShipmentNumber: "S-88120", Carrier: "PostNord", TrackingNumber: "00370712345678901234", TrackingURL: "https://tracking.postnord.com/se/?id=00370712345678901234"},
		{ShipmentNumber: "S-88131", Carrier: "DHL Freight", TrackingNumber: "JVGL0612345678"},
	},
	InvoiceNumbers: []string{"50012"},
}

func TestOrder(t *testing.T) {
	tests := []struct {
		number  string
		fixture string
		want    Order
	}{
		{"1001", "order_full.json", wantOrderFull},
		{"1003", "order_nulls.json", Order{
			OrderNumber: "1003", CustomerNumber: "K10023", OrderDate: "2024-05-14",
			ChangedAt: "2024-05-14T09:12:44Z", Status: StatusRegistered, Currency: "SEK",
		}},
		{"A/B 1", "order_nulls.json", Order{ // escaped in the path, unescaped by the server
			OrderNumber: "A/B 1", CustomerNumber: "K10023", OrderDate: "2024-05-14",
			ChangedAt: "2024-05-14T09:12:44Z", Status: StatusRegistered, Currency: "SEK",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			c, f := setup(t, Config{})
			f.handle("GET /CustomerOrders/{n}", func(w http.ResponseWriter, r *http.Request) {
				if n := r.PathValue("n"); n != tt.number {
					t.Errorf("order number in path = %q, want %q", n, tt.number)
				}
				testQuery(t, r, url.Values{})
				b := bytes.Replace(fixture(t, tt.fixture), []byte(`"OrderNumber": "1003"`), []byte(`"OrderNumber": `+strconv.Quote(tt.number)), 1)
				w.Header().Set("Content-Type", "application/json")
				w.Write(b)
			})
			got, err := c.Order(t.Context(), tt.number)
			if err != nil {
				t.Fatalf("Order(%q): %v", tt.number, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Order(%q) mismatch (-want +got):\n%s", tt.number, diff)
			}
		})
	}
}

func TestOrder_invalidNumber(t *testing.T) {
	c, _ := setup(t, Config{})
	for _, n := range []string{"", " ", ".", ".."} {
		if _, err := c.Order(t.Context(), n); !errors.Is(err, ErrValidation) {
			t.Errorf("Order(%q) error = %v, want ErrValidation", n, err)
		}
	}
}

func TestInvoice(t *testing.T) {
	remaining0 := Amount(0)
	remaining := Amount(926545)
	tests := []struct {
		number, fixture string
		check           func(t *testing.T, got Invoice)
	}{
		{"50012", "invoice.json", func(t *testing.T, got Invoice) {
			if got.IsCredit || got.PaidAmount != 0 || got.RemainingAmount == nil || *got.RemainingAmount != remaining ||
				got.TotalInclVat != 926545 || len(got.Rows) != 3 || len(got.VatLines) != 2 || got.DueDate != "2024-06-06" {
				t.Errorf("Invoice(50012) = %+v", got)
			}
		}},
		{"50031", "invoice_credit.json", func(t *testing.T, got Invoice) {
			want := Invoice{
				InvoiceNumber: "50031", InvoiceDate: "2024-05-20", DueDate: "2024-05-20",
				IsCredit: true, CreditedInvoiceNumber: "50012", RemainingAmount: &remaining0,
				OrderNumbers: []string{"1001"}, CustomerNumber: "K10023", ChangedAt: "2024-05-20T10:00:00Z",
				YourReference: "Anna Lind", Comment: "Kreditering av skadat papper", Currency: "SEK",
				TotalExclVat: -52155, TotalVat: -13039, TotalInclVat: -65194,
				VatLines: []VatLine{{Rate: 25, Amount: -13039}},
				Customer: Customer{CustomerNumber: "K10023", Name: "Kontorsvaruhuset i Norr AB", CountryCode: "SE"},
				Rows: []Row{{RowNumber: 1, ProductNumber: "10-4410", Description: "Kopieringspapper A4 80 g, 500 ark",
					Quantity: -10, DeliveredQuantity: -10, UnitPrice: 5490, DiscountAmount: -2745, RowTotal: -52155}},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Invoice(50031) mismatch (-want +got):\n%s", diff)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			c, f := setup(t, Config{})
			f.handle("GET /CustomerInvoices/"+tt.number, serveFixture(t, 200, tt.fixture))
			got, err := c.Invoice(t.Context(), tt.number)
			if err != nil {
				t.Fatalf("Invoice(%q): %v", tt.number, err)
			}
			tt.check(t, got)
		})
	}
}

func TestInvoicePDF(t *testing.T) {
	pdf := "%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
	tests := []struct {
		name        string
		contentType string
		status      int
		body        string
		wantErr     error
	}{
		{"pdf", "application/pdf", 200, pdf, nil},
		{"html instead", "text/html; charset=utf-8", 200, pdf, ErrBadResponse},
		{"html labelled pdf", "application/pdf", 200, "<html><script>alert(1)</script>", ErrBadResponse},
		{"empty", "application/pdf", 200, "", ErrBadResponse},
		{"too large", "application/pdf", 200, "%PDF-" + strings.Repeat("x", MaxDocument), ErrBadResponse},
		{"not found", "application/json", 404, pdf, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := setup(t, Config{})
			f.handle("GET /CustomerInvoices/50012/pdf", func(w http.ResponseWriter, r *http.Request) {
				if a := r.Header.Get("Accept"); a != "application/pdf" {
					t.Errorf("Accept = %q, want application/pdf", a)
				}
				w.Header().Set("Content-Type", tt.contentType)
				w.Header().Set("Content-Length", fmt.Sprint(len(tt.body)))
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			doc, err := c.InvoicePDF(t.Context(), "50012")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("InvoicePDF(50012) error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if string(doc.Data) != pdf || doc.ContentType != "application/pdf" {
				t.Errorf("InvoicePDF(50012) = %q, %q; want %q, application/pdf", doc.Data, doc.ContentType, pdf)
			}
		})
	}
}

func TestToken_reused(t *testing.T) {
	c, f := setup(t, Config{})
	f.handle("GET /CustomerOrders/1001", serveFixture(t, 200, "order_full.json"))
	for range 5 {
		if _, err := c.Order(t.Context(), "1001"); err != nil {
			t.Fatalf("Order: %v", err)
		}
	}
	if n := f.tokenCalls.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

func TestToken_renewedBeforeExpiry(t *testing.T) {
	c, f := setup(t, Config{})
	f.expiresIn = 3600
	var mu sync.Mutex
	now := time.Date(2024, 5, 2, 8, 0, 0, 0, time.UTC)
	c.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	f.handle("GET /CustomerOrders/1001", serveFixture(t, 200, "order_full.json"))
	steps := []struct {
		advance        time.Duration
		wantTokenCalls int32
	}{
		{0, 1},
		{time.Hour - 31*time.Second, 1}, // 31 s left: still used
		{2 * time.Second, 2},            // 29 s left: renewed
		{time.Minute, 2},
	}
	for _, s := range steps {
		mu.Lock()
		now = now.Add(s.advance)
		mu.Unlock()
		if _, err := c.Order(t.Context(), "1001"); err != nil {
			t.Fatalf("Order: %v", err)
		}
		if n := f.tokenCalls.Load(); n != s.wantTokenCalls {
			t.Errorf("after +%s: token requests = %d, want %d", s.advance, n, s.wantTokenCalls)
		}
	}
}

func TestToken_concurrentCallersShareOneFetch(t *testing.T) {
	c, f := setup(t, Config{})
	f.tokenDelay = 50 * time.Millisecond
	f.handle("GET /CustomerOrders/1001", serveFixture(t, 200, "order_full.json"))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.Order(t.Context(), "1001"); err != nil {
				t.Errorf("Order: %v", err)
			}
		})
	}
	wg.Wait()
	if n := f.tokenCalls.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

func TestUnauthorized(t *testing.T) {
	tests := []struct {
		name           string
		refuse         func(auth string) bool // answer 401 to this Authorization
		wantErr        error
		wantTokenCalls int32
		wantCalls      int32
	}{
		{"revoked token renewed once", func(a string) bool { return a == "Bearer tok-1" }, nil, 2, 2},
		{"refused twice", func(string) bool { return true }, ErrUnauthorized, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := setup(t, Config{})
			var calls atomic.Int32
			f.handle("GET /CustomerOrders/1001", func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if tt.refuse(r.Header.Get("Authorization")) {
					w.WriteHeader(http.StatusUnauthorized)
					io.WriteString(w, `{"ErrorType":"Validation","Message":"The access token is invalid or has expired."}`)
					return
				}
				serveFixture(t, 200, "order_full.json")(w, r)
			})
			_, err := c.Order(t.Context(), "1001")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Order(1001) error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				checkNoSecret(t, "error", err.Error())
			}
			if n := f.tokenCalls.Load(); n != tt.wantTokenCalls {
				t.Errorf("token requests = %d, want %d", n, tt.wantTokenCalls)
			}
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("order requests = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	tests := []struct {
		name           string
		status         int
		body           string
		wantErr        error
		wantTokenCalls int32
	}{
		{"credentials refused", 401, `{"error":"invalid_client","error_description":"client_secret ` + testSecret + ` is wrong"}`, ErrUnauthorized, 1},
		{"bad request", 400, `{"ErrorType":"Validation","Message":"unsupported grant"}`, ErrUnauthorized, 1},
		{"wrong token url", 404, `not found`, ErrUnauthorized, 1},
		{"server error", 503, `{"ErrorType":"Server","Message":"down"}`, ErrUnavailable, 3},
		{"not json", 200, `<html>login</html>`, ErrBadResponse, 1},
		{"no token", 200, `{"token_type":"Bearer","expires_in":3600}`, ErrBadResponse, 1},
		{"wrong type", 200, `{"access_token":"tok-x","token_type":"MAC"}`, ErrBadResponse, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := setup(t, Config{})
			f.tokenStatus, f.tokenBody = tt.status, tt.body
			err := c.Ping(t.Context())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Ping() error = %v, want %v", err, tt.wantErr)
			}
			checkNoSecret(t, "error", err.Error())
			if n := f.tokenCalls.Load(); n != tt.wantTokenCalls {
				t.Errorf("token requests = %d, want %d", n, tt.wantTokenCalls)
			}
		})
	}
}

func TestPing(t *testing.T) {
	c, f := setup(t, Config{})
	for i := range 2 {
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("Ping() = %v", err)
		}
		if n := f.tokenCalls.Load(); n != int32(i+1) {
			t.Errorf("after Ping %d: token requests = %d, want %d", i+1, n, i+1)
		}
	}
}

// step is one scripted answer of the fake.
type step struct {
	status  int
	header  map[string]string
	fixture string        // testdata file for the body
	body    string        // or this body
	delay   time.Duration // before answering (ends early when the client gives up)
	hangup  bool          // close the connection without answering
}

// script answers GET /CustomerOrders/1001 with steps, the last one
// repeating, and counts the requests.
func (f *fakeExtend) script(steps ...step) *atomic.Int32 {
	var n atomic.Int32
	f.handle("GET /CustomerOrders/1001", func(w http.ResponseWriter, r *http.Request) {
		s := steps[min(int(n.Add(1)), len(steps))-1]
		if s.delay > 0 {
			select {
			case <-time.After(s.delay):
			case <-r.Context().Done():
				return
			}
		}
		if s.hangup {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				f.t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
			return
		}
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		body := []byte(s.body)
		if s.fixture != "" {
			body = fixture(f.t, s.fixture)
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(s.status)
		w.Write(body)
	})
	return &n
}

func TestErrorReactions(t *testing.T) {
	ok := step{status: 200, fixture: "order_full.json"}
	tests := []struct {
		name         string
		steps        []step
		timeout      time.Duration // ctx deadline; default 5s
		callTimeout  time.Duration // default 1s
		noKeepAlive  bool          // so hang-ups are not retried by net/http itself
		wantErr      error         // nil: success
		wantAttempts int32
		wantStatus   int
		wantType     string
		wantRetry    time.Duration // Error.RetryAfter
		minElapsed   time.Duration
		maxElapsed   time.Duration
	}{
		{name: "ok", steps: []step{ok}, wantAttempts: 1},
		{name: "404 not found", steps: []step{{status: 404, fixture: "error_notfound.json"}},
			wantErr: ErrNotFound, wantAttempts: 1, wantStatus: 404, wantType: "Validation"},
		{name: "400 validation", steps: []step{{status: 400, fixture: "error_validation.json"}},
			wantErr: ErrValidation, wantAttempts: 1, wantStatus: 400, wantType: "Validation"},
		{name: "409 conflict", steps: []step{{status: 409, fixture: "error_validation.json"}},
			wantErr: ErrValidation, wantAttempts: 1, wantStatus: 409, wantType: "Validation"},
		{name: "422 validation", steps: []step{{status: 422, fixture: "error_validation.json"}},
			wantErr: ErrValidation, wantAttempts: 1, wantStatus: 422, wantType: "Validation"},
		{name: "403 forbidden", steps: []step{{status: 403}},
			wantErr: ErrUnauthorized, wantAttempts: 1, wantStatus: 403},
		{name: "503 every time", steps: []step{{status: 503, fixture: "error_server.json"}},
			wantErr: ErrUnavailable, wantAttempts: 3, wantStatus: 503, wantType: "Server"},
		{name: "502 then ok", steps: []step{{status: 502, body: "Bad Gateway"}, ok}, wantAttempts: 2},
		{name: "500 twice then ok", steps: []step{{status: 500}, {status: 500}, ok}, wantAttempts: 3},
		{name: "429 Retry-After waited", steps: []step{{status: 429, fixture: "error_throttling.json",
			header: map[string]string{"Retry-After": "1", "X-Ratelimit-Limit": "300", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "1"}}, ok},
			wantAttempts: 2, minElapsed: 900 * time.Millisecond},
		{name: "429 x-ratelimit-reset waited", steps: []step{{status: 429, fixture: "error_throttling.json",
			header: map[string]string{"X-Ratelimit-Reset": "0.05"}}, ok},
			wantAttempts: 2, minElapsed: 40 * time.Millisecond},
		{name: "429 wait beyond deadline", timeout: 500 * time.Millisecond,
			steps:   []step{{status: 429, fixture: "error_throttling.json", header: map[string]string{"Retry-After": "30"}}},
			wantErr: ErrThrottled, wantAttempts: 1, wantStatus: 429, wantType: "Throttling", wantRetry: 30 * time.Second,
			maxElapsed: 250 * time.Millisecond},
		{name: "429 every time", steps: []step{{status: 429, fixture: "error_throttling.json"}},
			wantErr: ErrThrottled, wantAttempts: 3, wantStatus: 429, wantType: "Throttling"},
		{name: "redirect", steps: []step{{status: 302, header: map[string]string{"Location": "/login"}}},
			wantErr: ErrBadResponse, wantAttempts: 1, wantStatus: 302},
		{name: "garbage body", steps: []step{{status: 200, body: "<html><body>Maintenance</body></html>"}},
			wantErr: ErrBadResponse, wantAttempts: 1, wantStatus: 200},
		{name: "wrong shape", steps: []step{{status: 200, body: `{"OrderNumber":"1001","Rows":"none"}`}},
			wantErr: ErrBadResponse, wantAttempts: 1, wantStatus: 200},
		{name: "empty body", steps: []step{{status: 200}},
			wantErr: ErrBadResponse, wantAttempts: 1, wantStatus: 200},
		{name: "oversized body", callTimeout: 10 * time.Second, timeout: 20 * time.Second, steps: []step{{status: 200, body: `{"Comment":"` + strings.Repeat("x", maxJSONBody) + `"}`}},
			wantErr: ErrBadResponse, wantAttempts: 1, wantStatus: 200},
		{name: "slow server", callTimeout: 50 * time.Millisecond, steps: []step{{delay: 5 * time.Second}},
			wantErr: ErrTimeout, wantAttempts: 3, maxElapsed: time.Second},
		{name: "slow once", callTimeout: 50 * time.Millisecond, steps: []step{{delay: 5 * time.Second}, ok}, wantAttempts: 2},
		{name: "deadline before call timeout", timeout: 100 * time.Millisecond, steps: []step{{delay: 5 * time.Second}},
			wantErr: ErrTimeout, wantAttempts: 1, maxElapsed: 500 * time.Millisecond},
		{name: "hang-up every time", noKeepAlive: true, steps: []step{{hangup: true}},
			wantErr: ErrUnavailable, wantAttempts: 3},
		{name: "hang-up then ok", noKeepAlive: true, steps: []step{{hangup: true}, ok}, wantAttempts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{CallTimeout: cmpOr(tt.callTimeout, time.Second)}
			if tt.noKeepAlive {
				cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			}
			c, f := setup(t, cfg)
			attempts := f.script(tt.steps...)
			ctx := ctxTimeout(t, cmpOr(tt.timeout, 5*time.Second))

			start := time.Now()
			got, err := c.Order(ctx, "1001")
			elapsed := time.Since(start)

			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Order(1001) error = %v, want %v", err, tt.wantErr)
			}
			if n := attempts.Load(); n != tt.wantAttempts {
				t.Errorf("Order(1001) attempts = %d, want %d", n, tt.wantAttempts)
			}
			if tt.minElapsed > 0 && elapsed < tt.minElapsed {
				t.Errorf("Order(1001) took %s, want at least %s", elapsed, tt.minElapsed)
			}
			if tt.maxElapsed > 0 && elapsed > tt.maxElapsed {
				t.Errorf("Order(1001) took %s, want at most %s", elapsed, tt.maxElapsed)
			}
			if err == nil {
				if got.OrderNumber != "1001" {
					t.Errorf("Order(1001) = %+v", got)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Order(1001) error %T is not *Error", err)
			}
			if e.Status != tt.wantStatus || e.Type != tt.wantType || e.RetryAfter != tt.wantRetry {
				t.Errorf("Order(1001) error = {Status %d, Type %q, RetryAfter %s}, want {%d, %q, %s}",
					e.Status, e.Type, e.RetryAfter, tt.wantStatus, tt.wantType, tt.wantRetry)
			}
			if e.Op != "GET /CustomerOrders/1001" {
				t.Errorf("Order(1001) error Op = %q", e.Op)
			}
			if !strings.HasPrefix(err.Error(), "erp: GET /CustomerOrders/1001: ") {
				t.Errorf("Order(1001) error text = %q", err)
			}
			checkNoSecret(t, "error", err.Error())
		})
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func TestError_text(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "GET /CustomerOrders/4711", Status: 404, Type: "Validation", Message: "Customer order 4711 was not found.", Err: ErrNotFound},
			"erp: GET /CustomerOrders/4711: 404 Validation: Customer order 4711 was not found."},
		{&Error{Op: "POST /CustomerOrders", Status: 422, Type: "Validation", Message: "Not saved.", Err: ErrValidation,
			Fields: []FieldError{{"Rows[0].ProductNumber", "unknown"}, {"Currency", "missing"}}},
			"erp: POST /CustomerOrders: 422 Validation: Not saved. (Rows[0].ProductNumber: unknown; Currency: missing)"},
		{&Error{Op: "GET /CustomerOrders/1", Status: 503, Err: ErrUnavailable, attempts: 3},
			"erp: GET /CustomerOrders/1: 503 unavailable (3 attempts)"},
		{&Error{Op: "GET /CustomerOrders/1", Status: 429, Type: "Throttling", Err: ErrThrottled, RetryAfter: 30 * time.Second},
			"erp: GET /CustomerOrders/1: 429 Throttling (retry after 30s)"},
		{&Error{Op: "GET /CustomerOrders/1", Err: ErrTimeout, cause: context.DeadlineExceeded},
			"erp: GET /CustomerOrders/1: timeout: context deadline exceeded"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	e := &Error{Op: "GET /x", Err: ErrTimeout, cause: context.DeadlineExceeded}
	if !errors.Is(e, ErrTimeout) || !errors.Is(e, context.DeadlineExceeded) || errors.Is(e, ErrNotFound) {
		t.Errorf("errors.Is on %v does not match its sentinel and cause only", e)
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	c, f := setup(t, Config{})
	f.handle("GET /CustomerOrders/{n}", func(w http.ResponseWriter, r *http.Request) {
		// A server that echoes what it got, credentials included.
		w.WriteHeader(422)
		fmt.Fprintf(w, `{"ErrorType":"Validation","Message":"header %s, secret %s","Errors":[{"Field":"Authorization","Message":"%s"}]}`,
			r.Header.Get("Authorization"), testSecret, r.Header.Get("Authorization"))
	})
	_, err := c.Order(t.Context(), "1001")
	if !errors.Is(err, ErrValidation) {
		t.Fatalf("Order(1001) error = %v, want ErrValidation", err)
	}
	checkNoSecret(t, "error", err.Error())
	var e *Error
	if errors.As(err, &e) {
		checkNoSecret(t, "Message", fmt.Sprint(e.Message, e.Fields))
	}
}

func TestOrders(t *testing.T) {
	const limit = 4
	c, f := setup(t, Config{Concurrency: limit})
	var inFlight, maxInFlight, fetches atomic.Int32
	f.handle("GET /CustomerOrders/{n}", func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		fmt.Fprintf(w, `{"OrderNumber":%q,"ChangedAt":"2024-05-01T00:00:00Z"}`, r.PathValue("n"))
	})
	var headers []OrderHeader
	for i := range 40 {
		headers = append(headers, OrderHeader{OrderNumber: fmt.Sprintf("%04d", i), ChangedAt: "2024-05-01T00:00:00Z"})
	}
	// The cache holds every even-numbered order.
	reuse := func(h OrderHeader) (Order, bool) {
		if i, _ := strconv.Atoi(h.OrderNumber); i%2 == 0 {
			return Order{OrderNumber: h.OrderNumber, Comment: "cached"}, true
		}
		return Order{}, false
	}
	got, err := c.Orders(t.Context(), headers, reuse)
	if err != nil {
		t.Fatalf("Orders: %v", err)
	}
	if len(got) != len(headers) {
		t.Fatalf("Orders returned %d orders, want %d", len(got), len(headers))
	}
	for i, o := range got {
		wantComment := ""
		if i%2 == 0 {
			wantComment = "cached"
		}
		if o.OrderNumber != headers[i].OrderNumber || o.Comment != wantComment {
			t.Errorf("Orders()[%d] = {%q, %q}, want {%q, %q}", i, o.OrderNumber, o.Comment, headers[i].OrderNumber, wantComment)
		}
	}
	if n := fetches.Load(); n != 20 {
		t.Errorf("fetches = %d, want 20 (the others reused)", n)
	}
	if m := maxInFlight.Load(); m > limit || m < 2 {
		t.Errorf("max concurrent fetches = %d, want 2..%d", m, limit)
	}
}

func TestOrders_firstErrorWins(t *testing.T) {
	c, f := setup(t, Config{Concurrency: 2})
	f.handle("GET /CustomerOrders/{n}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("n") == "0003" {
			serveFixture(t, 404, "error_notfound.json")(w, r)
			return
		}
		fmt.Fprintf(w, `{"OrderNumber":%q}`, r.PathValue("n"))
	})
	var headers []OrderHeader
	for i := range 10 {
		headers = append(headers, OrderHeader{OrderNumber: fmt.Sprintf("%04d", i)})
	}
	got, err := c.Orders(t.Context(), headers, nil)
	if !errors.Is(err, ErrNotFound) || got != nil {
		t.Errorf("Orders() = %v, %v; want nil, ErrNotFound", got, err)
	}
}

func TestInvoices(t *testing.T) {
	c, f := setup(t, Config{})
	f.handle("GET /CustomerInvoices/50012", serveFixture(t, 200, "invoice.json"))
	f.handle("GET /CustomerInvoices/50031", serveFixture(t, 200, "invoice_credit.json"))
	got, err := c.Invoices(t.Context(), []InvoiceHeader{{InvoiceNumber: "50031"}, {InvoiceNumber: "50012"}}, nil)
	if err != nil {
		t.Fatalf("Invoices: %v", err)
	}
	if len(got) != 2 || got[0].InvoiceNumber != "50031" || got[1].InvoiceNumber != "50012" {
		t.Errorf("Invoices() = %+v, want 50031, 50012", got)
	}
}

func TestCreateOrder(t *testing.T) {
	order := NewOrder{
		ExternalOrderNumber: "VS-20240502-0042", CustomerNumber: "K10023", OrderDate: "2024-05-02",
		Currency: "SEK", ShippingCost: 9900,
		DeliveryAddress: Address{Name: "Lager", Address1: "Industrivägen 4", ZipCode: "903 61", City: "Umeå", CountryCode: "SE"},
		Rows:            []NewOrderRow{{ProductNumber: "10-4410", Quantity: 10, UnitPrice: 5490, DiscountAmount: 2745}},
	}
	tests := []struct {
		name      string
		order     NewOrder
		status    int
		body      string
		want      string
		wantErr   error
		wantCalls int32
	}{
		{"created", order, 201, `{"OrderNumber":"1057"}`, "1057", nil, 1},
		{"server error not retried", order, 503, `{"ErrorType":"Server","Message":"down"}`, "", ErrUnavailable, 1},
		{"throttled not retried", order, 429, `{"ErrorType":"Throttling"}`, "", ErrThrottled, 1},
		{"rejected", order, 422, string(fixture(t, "error_validation.json")), "", ErrValidation, 1},
		{"no order number", order, 201, `{}`, "", ErrBadResponse, 1},
		{"no external number", NewOrder{CustomerNumber: "K10023"}, 0, "", "", ErrValidation, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := setup(t, Config{})
			var calls atomic.Int32
			f.handle("POST /CustomerOrders", func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				var got map[string]any
				if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
					t.Errorf("decoding body: %v", err)
				}
				want := map[string]any{"ExternalOrderNumber": "VS-20240502-0042", "ShippingCost": 99.0}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("body %s = %v, want %v", k, got[k], v)
					}
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			got, err := c.CreateOrder(t.Context(), tt.order)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("CreateOrder() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("CreateOrder() calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestFindOrderByExternalNumber(t *testing.T) {
	tests := []struct {
		name      string
		list      string
		orderExt  string
		wantFound bool
		wantErr   error
	}{
		{"found", `{"Items":[{"OrderNumber":"1057","OrderDate":"2024-05-02","ChangedAt":"2024-05-02T10:00:00Z"}],"TotalCount":1}`, "VS-1", true, nil},
		{"none", `{"Items":[],"Page":1,"PageSize":10,"TotalCount":0}`, "", false, nil},
		{"filter ignored", `{"Items":[{"OrderNumber":"999"}],"TotalCount":40}`, "VS-other", false, ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := setup(t, Config{})
			f.handle("GET /CustomerOrders", func(w http.ResponseWriter, r *http.Request) {
				testQuery(t, r, url.Values{"externalOrderNumber": {"VS-1"}, "page": {"1"}, "pageSize": {"10"}})
				io.WriteString(w, tt.list)
			})
			f.handle("GET /CustomerOrders/{n}", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"OrderNumber":%q,"ExternalOrderNumber":%q}`, r.PathValue("n"), tt.orderExt)
			})
			h, found, err := c.FindOrderByExternalNumber(t.Context(), "VS-1")
			if found != tt.wantFound || !errors.Is(err, tt.wantErr) {
				t.Fatalf("FindOrderByExternalNumber(VS-1) = %+v, %v, %v; want found %v, %v", h, found, err, tt.wantFound, tt.wantErr)
			}
			if found && h.OrderNumber != "1057" {
				t.Errorf("FindOrderByExternalNumber(VS-1) = %+v, want order 1057", h)
			}
		})
	}
}

func TestProductAvailability(t *testing.T) {
	c, f := setup(t, Config{})
	since := time.Date(2024, 5, 20, 0, 0, 0, 0, time.UTC)
	f.handle("GET /ProductAvailability", func(w http.ResponseWriter, r *http.Request) {
		testQuery(t, r, url.Values{"productNumbers": {"10-4410,KAFFE-500"}, "warehouse": {"UME"},
			"changedSince": {"2024-05-20T00:00:00Z"}, "page": {"2"}, "pageSize": {"100"}})
		serveFixture(t, 200, "availability_page.json")(w, r)
	})
	got, err := c.ProductAvailability(t.Context(), []string{"10-4410", "KAFFE-500"}, "UME", since, 2, 250)
	if err != nil {
		t.Fatalf("ProductAvailability: %v", err)
	}
	want := []Availability{
		{ProductNumber: "10-4410", Warehouse: "UME", AvailableBalance: 5324, ChangedAt: "2024-05-21T06:00:00Z"},
		{ProductNumber: "10-4410", Warehouse: "STO", AvailableBalance: -3, ChangedAt: "2024-05-20T16:45:10Z"},
		{ProductNumber: "KAFFE-500", Warehouse: "UME", AvailableBalance: 12.5, ChangedAt: "2024-05-21T06:00:00Z"},
	}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("ProductAvailability mismatch (-want +got):\n%s", diff)
	}
	if _, err := c.ProductAvailability(t.Context(), []string{"A,B"}, "", time.Time{}, 0, 0); !errors.Is(err, ErrValidation) {
		t.Errorf("ProductAvailability([A,B]) error = %v, want ErrValidation", err)
	}
}

func TestProductPrices(t *testing.T) {
	tests := []struct {
		name     string
		products int
		body     string // %s is the product number
		wantErr  error
		wantN    int
		calls    int32
	}{
		{"bare array", 2, `[{"ProductNumber":%q,"Price":"1 234.50","Currency":"SEK"}]`, nil, 1, 1},
		{"list envelope", 2, `{"Items":[{"ProductNumber":%q,"Price":1234.5,"Currency":"SEK"}],"TotalCount":1}`, nil, 1, 1},
		{"chunked by 100", 150, `[{"ProductNumber":%q,"Price":1234.5,"Currency":"SEK"}]`, nil, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := setup(t, Config{})
			var calls atomic.Int32
			f.handle("GET /ProductPrices", func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if cn := r.URL.Query().Get("customerNumber"); cn != "K10023" {
					t.Errorf("customerNumber = %q, want K10023", cn)
				}
				first, _, _ := strings.Cut(r.URL.Query().Get("productNumbers"), ",")
				fmt.Fprintf(w, tt.body, first)
			})
			var products []string
			for i := range tt.products {
				products = append(products, fmt.Sprintf("P%03d", i))
			}
			got, err := c.ProductPrices(t.Context(), "K10023", products)
			if !errors.Is(err, tt.wantErr) || len(got) != tt.wantN {
				t.Fatalf("ProductPrices() = %+v, %v; want %d prices", got, err, tt.wantN)
			}
			if got[0] != (Price{ProductNumber: "P000", Price: 123450, Currency: "SEK"}) {
				t.Errorf("ProductPrices()[0] = %+v", got[0])
			}
			if n := calls.Load(); n != tt.calls {
				t.Errorf("ProductPrices() calls = %d, want %d", n, tt.calls)
			}
		})
	}
	c, _ := setup(t, Config{})
	if _, err := c.ProductPrices(t.Context(), "", []string{"A"}); !errors.Is(err, ErrValidation) {
		t.Errorf("ProductPrices(no customer) error = %v, want ErrValidation", err)
	}
}

func TestCustomer(t *testing.T) {
	c, f := setup(t, Config{})
	f.handle("GET /Customers/K10023", serveFixture(t, 200, "customer.json"))
	got, err := c.Customer(t.Context(), "K10023")
	if err != nil {
		t.Fatalf("Customer(K10023): %v", err)
	}
	want := CustomerRecord{CustomerNumber: "K10023", Name: "Kontorsvaruhuset i Norr AB", Addresses: []Address{
		{Type: "Invoice", Name: "Kontorsvaruhuset i Norr AB", Address1: "Box 123", ZipCode: "901 04", City: "Umeå", CountryCode: "SE"},
		{Type: "Delivery", Name: "Kontorsvaruhuset i Norr AB, Lager", Reference: "Godsmottagningen", Address1: "Industrivägen 4", Address2: "Port 3", ZipCode: "903 61", City: "Umeå", CountryCode: "SE"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Customer(K10023) mismatch (-want +got):\n%s", diff)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 2, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		retryAfter, reset string
		throttled         bool
		want              time.Duration
	}{
		{"1", "", true, time.Second},
		{"0.5", "", true, 500 * time.Millisecond},
		{"Thu, 02 May 2024 08:00:10 GMT", "", true, 10 * time.Second},
		{"Thu, 02 May 2024 07:00:00 GMT", "", true, 0},
		{"-3", "", true, 0},
		{"soon", "7", true, 7 * time.Second},
		{"", "7", true, 7 * time.Second},
		{"", "7", false, 0},
		{"99999999", "", true, 24 * time.Hour},
		{"NaN", "", true, 0},
		{"", "", true, 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.retryAfter != "" {
			h.Set("Retry-After", tt.retryAfter)
		}
		if tt.reset != "" {
			h.Set("X-Ratelimit-Reset", tt.reset)
		}
		if got := retryAfter(h, now, tt.throttled); got != tt.want {
			t.Errorf("retryAfter(%q, %q, %v) = %s, want %s", tt.retryAfter, tt.reset, tt.throttled, got, tt.want)
		}
	}
}

// TestInvoicePDF_slowBody: CallTimeout bounds the wait for the headers,
// not the file; the caller's deadline bounds the file, and a file cut by
// it is an error, never a shorter PDF.
func TestInvoicePDF_slowBody(t *testing.T) {
	c, f := setup(t, Config{CallTimeout: 50 * time.Millisecond})
	f.handle("GET /CustomerInvoices/50012/pdf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		io.WriteString(w, "%PDF-1.7\n")
		w.(http.Flusher).Flush()
		time.Sleep(150 * time.Millisecond) // longer than CallTimeout
		io.WriteString(w, "%%EOF\n")
	})
	doc, err := c.InvoicePDF(t.Context(), "50012")
	if err != nil || string(doc.Data) != "%PDF-1.7\n%%EOF\n" {
		t.Errorf("InvoicePDF(50012) = %q, %v; want the whole PDF", doc.Data, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	doc, err = c.InvoicePDF(ctx, "50012")
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("InvoicePDF(50012) past the caller's deadline = %q, %v; want ErrTimeout", doc.Data, err)
	}
}

// TestStrictAnswers: a list answer without Items or TotalCount, and a
// record of another number than the one asked for, are ErrBadResponse,
// never an empty list or someone else's record.
func TestStrictAnswers(t *testing.T) {
	tests := []struct {
		name, pattern, body string
		call                func(c *Client) error
	}{
		{"orders without Items", "GET /CustomerOrders", `{"Page":1,"PageSize":25,"TotalCount":3}`,
			func(c *Client) error {
				_, err := c.OrderHeaders(t.Context(), ListQuery{CustomerNumber: "1"})
				return err
			}},
		{"orders with null Items", "GET /CustomerOrders", `{"Items":null,"TotalCount":0}`,
			func(c *Client) error {
				_, err := c.OrderHeaders(t.Context(), ListQuery{CustomerNumber: "1"})
				return err
			}},
		{"invoices without TotalCount", "GET /CustomerInvoices", `{"Items":[],"Page":1,"PageSize":25}`,
			func(c *Client) error {
				_, err := c.InvoiceHeaders(t.Context(), ListQuery{CustomerNumber: "1"})
				return err
			}},
		{"availability without Items", "GET /ProductAvailability", `{"TotalCount":0}`,
			func(c *Client) error {
				_, err := c.ProductAvailability(t.Context(), []string{"A"}, "", time.Time{}, 1, 100)
				return err
			}},
		{"another order", "GET /CustomerOrders/{n}", `{"OrderNumber":"2","CustomerNumber":"1"}`,
			func(c *Client) error { _, err := c.Order(t.Context(), "1"); return err }},
		{"an order without its number", "GET /CustomerOrders/{n}", `{"CustomerNumber":"1"}`,
			func(c *Client) error { _, err := c.Order(t.Context(), "1"); return err }},
		{"another invoice", "GET /CustomerInvoices/{n}", `{"InvoiceNumber":"01","CustomerNumber":"1"}`,
			func(c *Client) error { _, err := c.Invoice(t.Context(), "1"); return err }},
		{"another customer", "GET /Customers/{n}", `{"CustomerNumber":"42","Name":"X"}`,
			func(c *Client) error { _, err := c.Customer(t.Context(), "00042"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := setup(t, Config{})
			f.handle(tt.pattern, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
			})
			if err := tt.call(c); !errors.Is(err, ErrBadResponse) {
				t.Errorf("%s = %v, want ErrBadResponse", tt.name, err)
			}
		})
	}
}
