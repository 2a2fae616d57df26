package extendsim

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vendre-extend/gateway/erp"
)

// Default credentials, accepted when Options leaves them empty.
const (
	DefaultClientID     = "demo-client"
	DefaultClientSecret = "demo-secret"
)

// TokenLifetime is how long an issued access token is valid (expires_in).
const TokenLifetime = time.Hour

// Operation names counted by Calls, one per endpoint.
const (
	OpToken         = "token"          // POST /oauth/token
	OpOrderList     = "order-list"     // GET /CustomerOrders
	OpOrder         = "order"          // GET /CustomerOrders/{n}
	OpOrderCreate   = "order-create"   // POST /CustomerOrders
	OpInvoiceList   = "invoice-list"   // GET /CustomerInvoices
	OpInvoice       = "invoice"        // GET /CustomerInvoices/{n}
	OpInvoicePDF    = "invoice-pdf"    // GET /CustomerInvoices/{n}/pdf
	OpAvailability  = "availability"   // GET /ProductAvailability
	OpPrices        = "prices"         // GET /ProductPrices
	OpProductList   = "product-list"   // GET /Products
	OpProduct       = "product"        // GET /Products/{n}
	OpProductGroups = "product-groups" // GET /ProductGroups
	OpCustomer      = "customer"       // GET /Customers/{n}
	OpUnknown       = "unknown"        // any other method or path
)

// Options configure a Server. The zero value is a valid demo.
type Options struct {
	// ClientID and ClientSecret are the only credentials POST /oauth/token
	// accepts; DefaultClientID and DefaultClientSecret when both are empty.
	ClientID, ClientSecret string
	// Now is the clock (default time.Now): sample dates are relative to it
	// at New, and ChangedAt of changes and token expiry use it.
	Now func() time.Time
	// Customers is the number of generated customers 20001, 20002, … besides
	// the fixed ones (default 50; negative means none).
	Customers int
	// Seed makes the generated data differ; the same Seed and Now give the
	// same data.
	Seed int64
	// Products is how many articles the catalogue holds: the merchant's
	// fixed assortment (FixedProducts articles) and, up to Products,
	// generated variants of it, for tests and benchmarks at volume.
	// Default (and any value below FixedProducts): the fixed assortment.
	Products int
	// Limit and Window are the simulator's own rate limit, as Extend's:
	// at most Limit API calls per rate-limit group (erp.RateGroup) in each
	// Window, counted from the group's first call of the window; beyond
	// it 429 Throttling with Retry-After and the x-ratelimit-* headers,
	// which every answer carries. DefaultLimit and DefaultWindow when
	// zero; a negative Limit means none.
	Limit  int
	Window time.Duration
}

// The simulator's own rate limit when Options leave it zero: generous
// next to Extend's standard 300 per window, as an ERP under a larger
// agreement, so that demo mode serves a burst of customers cold. Demo
// mode tells the gateway this limit (EXTEND_RATE_LIMIT), so the gateway
// spends the simulator's budget as it spends Extend's.
const (
	DefaultLimit  = 1200
	DefaultWindow = time.Minute
)

// Server is a simulated Extend Commerce: an http.Handler serving
// the model of docs/extend.md over sample data. It is safe for concurrent use and
// starts no goroutines.
type Server struct {
	id, secret string
	now        func() time.Time
	mux        *http.ServeMux
	calls      map[string]*atomic.Int64
	latency    atomic.Int64 // time.Duration

	mu          sync.RWMutex
	orders      map[string]*orderRec
	invoices    map[string]*invoiceRec
	orderIdx    *index
	invoiceIdx  *index
	customers   map[string]*customer
	custOrder   []string // customer numbers in creation order
	products    []productRec
	productAt   map[string]int
	stock       []stockRec // by product, then warehouse
	stockAt     map[string]int
	cases       Cases
	nextOrder   int
	nextInvoice int

	tokMu  sync.Mutex
	tokens map[string]time.Time // token -> expiry

	faultMu        sync.Mutex
	failNext       int
	failNextStatus int
	failing        int
	garbage        map[string]bool

	creates createFaults // faults_create.go

	limit   int // calls per window and group; <= 0: none
	window  time.Duration
	rateMu  sync.Mutex
	windows map[string]*rateWindow // by rate-limit group
}

// rateWindow counts one group's calls in its current window.
type rateWindow struct {
	start time.Time
	calls int
}

// productRec is an article with its master data and ChangedAt.
type productRec struct {
	product
	info     productInfo
	changed  string
	changedT time.Time
}

// stockRec is the available balance of one article in one warehouse.
type stockRec struct {
	product, warehouse string
	balance            float64
	changed            string
	changedT           time.Time
}

func stockKey(product, warehouse string) string { return product + "\x00" + warehouse }

// New returns a Server holding the sample data for opts.
func New(opts Options) *Server {
	if opts.ClientID == "" && opts.ClientSecret == "" {
		opts.ClientID, opts.ClientSecret = DefaultClientID, DefaultClientSecret
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch {
	case opts.Customers == 0:
		opts.Customers = 50
	case opts.Customers < 0:
		opts.Customers = 0
	}
	s := &Server{
		id: opts.ClientID, secret: opts.ClientSecret, now: opts.Now,
		calls:      map[string]*atomic.Int64{},
		orders:     map[string]*orderRec{},
		invoices:   map[string]*invoiceRec{},
		orderIdx:   newIndex(),
		invoiceIdx: newIndex(),
		customers:  map[string]*customer{},
		productAt:  map[string]int{},
		stockAt:    map[string]int{},
		tokens:     map[string]time.Time{},
		garbage:    map[string]bool{},
	}
	switch {
	case opts.Limit == 0:
		s.limit = DefaultLimit
	case opts.Limit > 0:
		s.limit = opts.Limit
	}
	s.window = cmp.Or(opts.Window, DefaultWindow)
	s.windows = map[string]*rateWindow{}
	now := opts.Now()
	ds := generate(opts.Seed, now, opts.Customers)
	s.load(ds, now, opts.Products)
	s.routes()
	return s
}

// load fills the store from generated data.
func (s *Server) load(ds *dataset, now time.Time, products int) {
	for _, c := range ds.customers {
		s.customers[c.Number] = c
		s.custOrder = append(s.custOrder, c.Number)
	}
	for _, o := range ds.orders {
		q := ds.quirks[o.OrderNumber]
		s.orders[o.OrderNumber] = &orderRec{o: o, q: q}
		e := orderEntry(&o)
		s.orderIdx.all = append(s.orderIdx.all, e)
		s.orderIdx.byCustomer[e.customer] = append(s.orderIdx.byCustomer[e.customer], e)
	}
	for _, inv := range ds.invoices {
		q := ds.quirks[inv.InvoiceNumber]
		s.invoices[inv.InvoiceNumber] = &invoiceRec{inv: inv, q: q}
		e := invoiceEntry(&inv)
		s.invoiceIdx.all = append(s.invoiceIdx.all, e)
		s.invoiceIdx.byCustomer[e.customer] = append(s.invoiceIdx.byCustomer[e.customer], e)
	}
	s.orderIdx.sortAll()
	s.invoiceIdx.sortAll()
	s.cases = ds.cases
	s.nextOrder = ds.nextOrder
	s.nextInvoice = ds.nextInvoice

	// Articles and balances: a fixed pattern per article, so they do not
	// depend on Seed; changed within the last 400 and 30 days.
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for i, p := range articles(products) {
		t := today.AddDate(0, 0, -(10 + i*37%390)).Add(9 * time.Hour)
		p.changed, p.changedT = t.Format(time.RFC3339), t
		s.productAt[p.Number] = len(s.products)
		s.products = append(s.products, p)
		for j, w := range []string{WarehouseStore, WarehouseMain} {
			bal := float64((i*53 + 17) % 240)
			if w == WarehouseStore {
				bal = float64((i*7 + 3) % 25)
			}
			switch p.Number {
			case "SK-3102": // backordered on the showcase's picked order
				bal = 0
			case "FA-8102":
				if w == WarehouseMain {
					bal = 5324
				}
			}
			t := today.AddDate(0, 0, -((i*11 + j*5) % 30)).Add(time.Duration(7+j)*time.Hour + time.Duration(i%600)*time.Minute)
			t = earlier(t, now.UTC().Add(-time.Minute).Truncate(time.Second))
			s.stockAt[stockKey(p.Number, w)] = len(s.stock)
			s.stock = append(s.stock, stockRec{product: p.Number, warehouse: w, balance: bal,
				changed: t.Format(time.RFC3339), changedT: t})
		}
	}
}

// routes registers every endpoint of the model.
func (s *Server) routes() {
	s.mux = http.NewServeMux()
	handle := func(pattern, op string, auth bool, h http.HandlerFunc) {
		c := &atomic.Int64{}
		s.calls[op] = c
		s.mux.Handle(pattern, s.wrap(c, auth, h))
	}
	handle("POST /oauth/token", OpToken, false, s.token)
	handle("GET /CustomerOrders", OpOrderList, true, s.orderList)
	handle("GET /CustomerOrders/{n}", OpOrder, true, s.order)
	handle("POST /CustomerOrders", OpOrderCreate, true, s.createOrderFaulty) // faults_create.go
	handle("GET /CustomerInvoices", OpInvoiceList, true, s.invoiceList)
	handle("GET /CustomerInvoices/{n}", OpInvoice, true, s.invoice)
	handle("GET /CustomerInvoices/{n}/pdf", OpInvoicePDF, true, s.invoicePDF)
	handle("GET /ProductAvailability", OpAvailability, true, s.availability)
	handle("GET /ProductPrices", OpPrices, true, s.prices)
	handle("GET /Products", OpProductList, true, s.productList)
	handle("GET /Products/{n}", OpProduct, true, s.productOne)
	handle("GET /ProductGroups", OpProductGroups, true, s.productGroups)
	handle("GET /Customers/{n}", OpCustomer, true, s.customer)
	handle("/", OpUnknown, false, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Validation", fmt.Sprintf("no resource %s %s", r.Method, r.URL.Path))
	})
}

// ServeHTTP answers one request as Extend Commerce would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// wrap counts a call, waits the configured latency, then (for API calls)
// checks the bearer token and answers a configured fault.
func (s *Server) wrap(c *atomic.Int64, auth bool, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Add(1)
		if d := time.Duration(s.latency.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if auth {
			if msg := s.checkToken(r); msg != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="extend"`)
				writeError(w, http.StatusUnauthorized, "Validation", msg)
				return
			}
			if !s.rate(w.Header(), r.URL.Path) {
				writeError(w, http.StatusTooManyRequests, "Throttling",
					fmt.Sprintf("rate limit exceeded: %d calls per window", s.limit))
				return
			}
			if status := s.takeFault(); status != 0 {
				writeFault(w, status)
				return
			}
		}
		h(w, r)
	})
}

// Limit returns the simulator's own rate limit: calls per window and
// rate-limit group (0: none), and the window.
func (s *Server) Limit() (int, time.Duration) { return s.limit, s.window }

// rate counts one call of path's rate-limit group and sets the
// x-ratelimit-* headers on h; false (with Retry-After) when the group's
// window is spent.
func (s *Server) rate(h http.Header, path string) bool {
	if s.limit <= 0 {
		return true
	}
	now := s.now()
	group := erp.RateGroup(path)
	s.rateMu.Lock()
	win := s.windows[group]
	if win == nil || !now.Before(win.start.Add(s.window)) {
		win = &rateWindow{start: now}
		s.windows[group] = win
	}
	win.calls++
	calls, reset := win.calls, win.start.Add(s.window).Sub(now)
	s.rateMu.Unlock()
	secs := strconv.Itoa(max(1, int(math.Ceil(reset.Seconds()))))
	h.Set("x-ratelimit-limit", strconv.Itoa(s.limit))
	h.Set("x-ratelimit-remaining", strconv.Itoa(max(0, s.limit-calls)))
	h.Set("x-ratelimit-reset", secs)
	if calls > s.limit {
		h.Set("Retry-After", secs)
		return false
	}
	return true
}

// takeFault returns the status the next call must fail with, or 0.
func (s *Server) takeFault() int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return s.failNextStatus
	}
	return s.failing
}

// writeFault answers an injected failure in the model's error shape.
func writeFault(w http.ResponseWriter, status int) {
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	switch {
	case status == http.StatusTooManyRequests:
		h := w.Header()
		h.Set("Retry-After", "1")
		h.Set("x-ratelimit-limit", "300")
		h.Set("x-ratelimit-remaining", "0")
		h.Set("x-ratelimit-reset", "1")
		writeError(w, status, "Throttling", "rate limit exceeded: 300 calls per window")
	case status >= 500:
		writeError(w, status, "Server", http.StatusText(status))
	default:
		writeError(w, status, "Validation", http.StatusText(status))
	}
}

// Calls reports how many requests reached the operation op (one of the Op
// constants) since New or ResetCalls, whatever their answer.
func (s *Server) Calls(op string) int {
	if c, ok := s.calls[op]; ok {
		return int(c.Load())
	}
	return 0
}

// ResetCalls sets every counter of Calls to zero.
func (s *Server) ResetCalls() {
	for _, c := range s.calls {
		c.Store(0)
	}
}

// SetLatency delays every answer by d (0: none). A request whose context
// ends first gets no answer.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// FailNext makes the next n API calls (not token calls) answer status with
// the model's error body: 429 Throttling with Retry-After and rate-limit
// headers, 5xx Server, other 4xx Validation.
func (s *Server) FailNext(n, status int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.failNext, s.failNextStatus = n, status
}

// SetFailing makes every API call (not token calls) answer status, as
// FailNext does, until SetFailing(0).
func (s *Server) SetFailing(status int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.failing = status
}

// SetGarbage makes GET of the order or invoice numbered n answer 200 with
// a body that is not valid JSON.
func (s *Server) SetGarbage(n string) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.garbage[n] = true
}

// ResetFaults undoes SetLatency, FailNext, SetFailing and SetGarbage.
func (s *Server) ResetFaults() {
	s.latency.Store(0)
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.failNext, s.failing = 0, 0
	clear(s.garbage)
}

func (s *Server) isGarbage(n string) bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.garbage[n]
}

// RevokeTokens invalidates every issued token: the next API call with one
// gets 401.
func (s *Server) RevokeTokens() {
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	clear(s.tokens)
}

// Cases names the showcase records of customer 10001.
func (s *Server) Cases() Cases {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cases
}

// SampleCustomers returns a few customer numbers that have orders and
// invoices: the fixed ones first, then two generated ones.
func (s *Server) SampleCustomers() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.custOrder[:min(5, len(s.custOrder))])
}

// CustomerNumbers returns every customer with master data, fixed ones
// first.
func (s *Server) CustomerNumbers() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.custOrder)
}

// ProductNumbers returns the article numbers of the catalogue.
func (s *Server) ProductNumbers() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, len(s.products))
	for i, p := range s.products {
		out[i] = p.Number
	}
	return out
}

// Order returns a copy of the order numbered n.
func (s *Server) Order(n string) (erp.Order, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, ok := s.orders[n]
	if !ok {
		return erp.Order{}, false
	}
	return cloneOrder(rec.o), true
}

// Invoice returns a copy of the invoice numbered n.
func (s *Server) Invoice(n string) (erp.Invoice, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, ok := s.invoices[n]
	if !ok {
		return erp.Invoice{}, false
	}
	return cloneInvoice(rec.inv), true
}

// OrderNumbers returns the numbers of customer's orders, newest first.
func (s *Server) OrderNumbers(customer string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return numbers(s.orderIdx.byCustomer[customer])
}

// InvoiceNumbers returns the numbers of customer's invoices, newest first.
func (s *Server) InvoiceNumbers(customer string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return numbers(s.invoiceIdx.byCustomer[customer])
}

func numbers(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.number
	}
	return out
}

// SetOrder adds o, or replaces the order with its number, exactly as given
// (no amounts are computed). An empty OrderNumber gets the next free
// number, an empty ChangedAt the current time. It returns the number.
func (s *Server) SetOrder(o erp.Order) string {
	o = cloneOrder(o)
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.OrderNumber == "" {
		o.OrderNumber = s.newOrderNumber()
	}
	if o.ChangedAt == "" {
		o.ChangedAt = s.stamp("")
	}
	s.putOrder(o, nil)
	return o.OrderNumber
}

// SetInvoice adds inv, or replaces the invoice with its number, as SetOrder
// does for orders.
func (s *Server) SetInvoice(inv erp.Invoice) string {
	inv = cloneInvoice(inv)
	s.mu.Lock()
	defer s.mu.Unlock()
	if inv.InvoiceNumber == "" {
		for s.invoices[fmt.Sprint(s.nextInvoice)] != nil {
			s.nextInvoice++
		}
		inv.InvoiceNumber = fmt.Sprint(s.nextInvoice)
		s.nextInvoice++
	}
	if inv.ChangedAt == "" {
		inv.ChangedAt = s.stamp("")
	}
	s.putInvoice(inv, nil)
	return inv.InvoiceNumber
}

// DeleteOrder removes the order numbered n; false when there is none.
func (s *Server) DeleteOrder(n string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.orders[n]
	if ok {
		delete(s.orders, n)
		s.orderIdx.remove(n, rec.o.CustomerNumber)
	}
	return ok
}

// DeleteInvoice removes the invoice numbered n; false when there is none.
func (s *Server) DeleteInvoice(n string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.invoices[n]
	if ok {
		delete(s.invoices, n)
		s.invoiceIdx.remove(n, rec.inv.CustomerNumber)
	}
	return ok
}

// Touch sets the ChangedAt of order n to now (always later than before), as
// an edit in the ERP would; false when there is no such order.
func (s *Server) Touch(orderNumber string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.orders[orderNumber]
	if !ok {
		return false
	}
	o := cloneOrder(rec.o)
	o.ChangedAt = s.stamp(o.ChangedAt)
	s.putOrder(o, rec.q)
	return true
}

// SetAvailability sets the available balance of product in warehouse and
// its ChangedAt to now.
func (s *Server) SetAvailability(product, warehouse string, balance float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := stockKey(product, warehouse)
	if i, ok := s.stockAt[k]; ok {
		r := &s.stock[i]
		r.balance, r.changed = balance, s.stamp(r.changed)
		r.changedT = parseStamp(r.changed)
		return
	}
	changed := s.stamp("")
	s.stock = append(s.stock, stockRec{product: product, warehouse: warehouse, balance: balance,
		changed: changed, changedT: parseStamp(changed)})
	slices.SortFunc(s.stock, func(a, b stockRec) int {
		return cmp.Or(cmp.Compare(a.product, b.product), cmp.Compare(a.warehouse, b.warehouse))
	})
	for i, r := range s.stock {
		s.stockAt[stockKey(r.product, r.warehouse)] = i
	}
}

// stamp returns now as ChangedAt, one second after prev when now is not
// later than prev.
func (s *Server) stamp(prev string) string {
	t := s.now().UTC().Truncate(time.Second)
	if p := parseStamp(prev); !t.After(p) && !p.IsZero() {
		t = p.Add(time.Second)
	}
	return t.Format(time.RFC3339)
}

// newOrderNumber returns the next free order number; s.mu is held.
func (s *Server) newOrderNumber() string {
	for s.orders[fmt.Sprint(s.nextOrder)] != nil {
		s.nextOrder++
	}
	n := fmt.Sprint(s.nextOrder)
	s.nextOrder++
	return n
}

// putOrder stores o and its index entry; s.mu is held for writing.
func (s *Server) putOrder(o erp.Order, q *quirks) {
	if old, ok := s.orders[o.OrderNumber]; ok {
		s.orderIdx.remove(o.OrderNumber, old.o.CustomerNumber)
	}
	s.orders[o.OrderNumber] = &orderRec{o: o, q: q}
	s.orderIdx.put(orderEntry(&o))
}

// putInvoice stores inv and its index entry; s.mu is held for writing.
func (s *Server) putInvoice(inv erp.Invoice, q *quirks) {
	if old, ok := s.invoices[inv.InvoiceNumber]; ok {
		s.invoiceIdx.remove(inv.InvoiceNumber, old.inv.CustomerNumber)
	}
	s.invoices[inv.InvoiceNumber] = &invoiceRec{inv: inv, q: q}
	s.invoiceIdx.put(invoiceEntry(&inv))
}
