package baselinker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers/orders"
)

// MaxBody is the largest request body accepted, in bytes: an OrderAdd of
// a few hundred rows fits many times over.
const MaxBody = 512 << 10

// retryAfter is the wait, in seconds, a 503 answer asks for.
const retryAfter = "60"

// actionTimeout bounds one action, ERP calls included, so that Baselinker
// gets an answer (an error to retry, at worst) before it gives up.
const actionTimeout = 25 * time.Second

// ERP is what the connector reads from Extend Commerce; *erp.Client has it.
type ERP interface {
	ProductHeaders(ctx context.Context, q erp.ProductQuery) (erp.Page[erp.ProductHeader], error)
	Product(ctx context.Context, productNumber string) (erp.Product, error)
	ProductGroups(ctx context.Context) ([]erp.ProductGroup, error)
	ProductAvailability(ctx context.Context, productNumbers []string, warehouse string, changedSince time.Time, page, pageSize int) (erp.Page[erp.Availability], error)
	ProductPrices(ctx context.Context, customerNumber string, productNumbers []string) ([]erp.Price, error)
	OrderHeaders(ctx context.Context, q erp.ListQuery) (erp.Page[erp.OrderHeader], error)
	Order(ctx context.Context, orderNumber string) (erp.Order, error)
	InvoiceHeaders(ctx context.Context, q erp.ListQuery) (erp.Page[erp.InvoiceHeader], error)
	Invoice(ctx context.Context, invoiceNumber string) (erp.Invoice, error)
}

// Orders is the order pusher as the connector uses it; *orders.Pusher has
// it.
type Orders interface {
	// Submit records an order checked as it arrived (see orders.Pusher).
	Submit(ctx context.Context, source, id string, payload []byte, reason string) (orders.State, error)
	// Lookup reads an order's recorded state by its external number.
	Lookup(ctx context.Context, ext string) (orders.State, bool, error)
}

// Store is the cache store the catalogue is kept in; cache.Redis and
// cache.Memory have it.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Delete(ctx context.Context, keys ...string) error
}

// Config configures the connector.
type Config struct {
	// Password is the communication password Baselinker sends as bl_pass
	// (BASELINKER_PASSWORD).
	Password string
	// Customer is the Extend customer marketplace orders are booked on and
	// whose net prices Baselinker sees (BASELINKER_ERP_CUSTOMER).
	Customer string
	// Warehouses are the Extend warehouses whose balances count towards
	// the stock Baselinker sees (STOCK_WAREHOUSES); empty: all.
	Warehouses []string
	// Location is the merchant's time zone (TIMEZONE): order dates. Nil: UTC.
	Location *time.Location
	// VendreOrders lists Vendre's shop orders (order source
	// vendre-webhook) in OrdersGet too, once they are in Extend.
	VendreOrders bool
	// Prefix of the connector's durable Redis keys; "gwq:" when "".
	Prefix string
	// CatalogueFresh is how long the catalogue snapshot (articles, groups,
	// prices) is served without a refresh; default 15m. StockFresh is the
	// same for the stock balances; default 1m.
	CatalogueFresh, StockFresh time.Duration
	// Wait is the longest a request waits for the first read of the
	// catalogue before it answers catalogue_loading; default 20s.
	Wait   time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Connector is the Baselinker integration file. Make one with New, register
// Source with the order pusher, then serve Handler.
type Connector struct {
	cfg    Config
	erp    ERP
	log    *slog.Logger
	cat    *Catalogue
	src    *Source
	idx    *index // nil: no Redis, the order actions are off
	orders Orders // set by Handler
	pass   [32]byte
	cache  *recordCache
}

// New returns the connector reading Extend through e, keeping its
// catalogue and order records in store, and its order index in rdb (nil:
// no Redis; the order actions then answer orders_unavailable). bg is the
// process's context: background refreshes run under it, after the request
// that started them has been answered.
func New(bg context.Context, cfg Config, e ERP, store Store, rdb redis.UniversalClient) *Connector {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "gwq:"
	}
	if cfg.CatalogueFresh <= 0 {
		cfg.CatalogueFresh = 15 * time.Minute
	}
	if cfg.StockFresh <= 0 {
		cfg.StockFresh = time.Minute
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 20 * time.Second
	}
	c := &Connector{cfg: cfg, erp: e, log: cfg.Logger, pass: sha256.Sum256([]byte(cfg.Password))}
	var leases leaser
	if rdb != nil {
		c.idx = newIndex(rdb, cfg.Prefix)
		leases = redisLeases{rdb: rdb, prefix: cfg.Prefix}
	}
	c.cat = newCatalogue(bg, cfg, e, store, leases)
	c.cache = &recordCache{store: store, erp: e, now: cfg.Now}
	c.src = &Source{c: c}
	return c
}

// Source is the connector's order source, to register with the order
// pusher.
func (c *Connector) Source() *Source { return c.src }

// action is one row of the table: a function of the form's fields.
type action struct {
	name string
	run  func(ctx context.Context, f *form) (any, error)
}

// parser is an action's request type.
type parser interface{ parse(f *form) }

// bind turns a typed action into a row of the table: the form is parsed
// into Req (every problem at once), then run.
func bind[Req any, P interface {
	*Req
	parser
}, Ans any](name string, run func(context.Context, Req) (Ans, error)) action {
	return action{name: name, run: func(ctx context.Context, f *form) (any, error) {
		var req Req
		P(&req).parse(f)
		if err := f.err(); err != nil {
			return nil, err
		}
		return run(ctx, req)
	}}
}

// table is every action, in the order SupportedMethods lists them.
func (c *Connector) table() []action {
	return []action{
		bind("FileVersion", c.fileVersion),
		bind("SupportedMethods", c.supportedMethods),
		bind("ProductsCategories", c.productsCategories),
		bind("ProductsList", c.productsList),
		bind("ProductsData", c.productsData),
		bind("ProductsDetails", c.productsData), // an older name of ProductsData
		bind("ProductsPrices", c.productsPrices),
		bind("ProductsQuantity", c.productsQuantity),
		bind("OrderAdd", c.orderAdd),
		bind("OrdersGet", c.ordersGet),
		bind("OrderUpdate", c.orderUpdate),
		bind("StatusesList", c.statusesList),
		bind("DeliveryMethodsList", c.deliveryMethodsList),
		bind("PaymentMethodsList", c.paymentMethodsList),
	}
}

// Handler returns the integration file's HTTP handler; op is the order
// pusher (nil: no Redis, the order actions answer orders_unavailable).
func (c *Connector) Handler(op Orders) http.Handler {
	c.orders = op
	h := &handler{c: c, actions: map[string]action{}}
	for _, a := range c.table() {
		h.actions[a.name] = a
		h.names = append(h.names, a.name)
	}
	return h
}

type handler struct {
	c       *Connector
	actions map[string]action
	names   []string
}

// ServeHTTP answers one call of Baselinker's. A GET (Baselinker checking
// that the file answers) gets no_password with 200, as other integration
// files answer it.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		writeJSON(w, http.StatusOK, errorBody{Error: true, Code: CodeNoPassword, Text: "wrong request: send bl_pass and action by POST"})
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: true, Code: CodeInvalidRequest, Text: "use POST"})
		return
	}
	name, ans, err := h.serve(r)
	if err != nil {
		e := classify(err)
		level := slog.LevelInfo
		if e.Status >= 500 {
			level = slog.LevelWarn
		}
		h.c.log.LogAttrs(r.Context(), level, "baselinker: error answer", slog.String("action", name),
			slog.String("code", e.Code), slog.Int("status", e.Status), slog.String("err", err.Error()))
		if e.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, e.Status, errorBody{Error: true, Code: e.Code, Text: e.Text})
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// serve authenticates the call and runs its action.
func (h *handler) serve(r *http.Request) (string, any, error) {
	f, err := readForm(r)
	if err != nil {
		return "", nil, err
	}
	got := sha256.Sum256([]byte(f.v.Get("bl_pass")))
	switch {
	case f.v.Get("bl_pass") == "":
		return "", nil, newError(http.StatusUnauthorized, CodeNoPassword, "bl_pass is missing")
	case subtle.ConstantTimeCompare(got[:], h.c.pass[:]) != 1:
		return "", nil, newError(http.StatusUnauthorized, CodeBadPassword, "wrong bl_pass: enter the gateway's BASELINKER_PASSWORD as the communication password")
	}
	name := f.str("action")
	if name == "" {
		return "", nil, newError(http.StatusUnprocessableEntity, CodeNoAction, "action is missing")
	}
	a, ok := h.actions[name]
	if !ok {
		return name, nil, newError(http.StatusUnprocessableEntity, CodeUnsupportedAction,
			"action "+quote(name)+" is not supported; SupportedMethods lists the ones that are")
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	ans, err := a.run(ctx, f)
	return name, ans, err
}

// readForm reads the POSTed fields, url-encoded or multipart, of a body of
// at most MaxBody bytes. Fields in the URL's query are not read.
func readForm(r *http.Request) (*form, error) {
	if r.ContentLength > MaxBody {
		return nil, newError(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body is larger than 512 KiB")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, MaxBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if mt == "multipart/form-data" {
		err = r.ParseMultipartForm(MaxBody) // #nosec G120 -- the body is capped at MaxBody by MaxBytesReader above
	} else {
		err = r.ParseForm()
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, newError(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body is larger than 512 KiB")
	case err != nil:
		return nil, invalid("the body is not a form: send the fields as application/x-www-form-urlencoded")
	}
	return &form{v: r.PostForm}, nil
}

// errorBody is Baselinker's error convention.
type errorBody struct {
	Error bool   `json:"error"`
	Code  string `json:"error_code"`
	Text  string `json:"error_text"`
}

// writeJSON writes v as UTF-8 JSON, <, > and & unescaped.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"error":true,"error_code":"internal","error_text":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// quote shows a caller's value in a message, shortened.
func quote(s string) string {
	if len(s) > 60 {
		s = shorten(s, 60) + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}
