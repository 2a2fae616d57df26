// Package pull answers Vendre's pull calls: it turns a request for a
// customer's orders or invoices (and the extended calls) into Extend
// Commerce calls, maps the records to Vendre's shape, and checks the answer
// against its JSON Schema. The cache engine (package cache) calls it to
// fill what it does not hold; what is served from the cache, and when,
// is the engine's business.
//
// Every answer is scoped to the customer who asked: cache keys hold the
// customer number, and every record fetched from the ERP is checked to
// belong to that customer before it is shown; a record of another customer
// is reported exactly like a missing one (ErrNotFound).
//
// Answers are fresh for CACHE_TTL_LIST or CACHE_TTL_DETAIL, and order and
// invoice answers for as long as Extend announces no change of theirs
// (changes.go: webhooks and the sweep). Raw ERP records are kept beside
// them, so that a list refresh fetches only the records whose ChangedAt
// moved, and an order opened after its list is built from the record.
package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/mapping"
)

// keys builds every cache key.
var keys cache.Keys

// ErrNotFound is returned for an order, invoice or document that does not
// exist or that belongs to another customer: callers cannot tell the two
// apart.
var ErrNotFound = errors.New("pull: not found")

// ErrSchema is returned when an answer built from the ERP fails its JSON
// Schema. Such an answer is never cached or shown.
var ErrSchema = errors.New("pull: answer fails its schema")

// ERP is what the service needs of Extend Commerce; *erp.Client has it.
type ERP interface {
	OrderHeaders(ctx context.Context, q erp.ListQuery) (erp.Page[erp.OrderHeader], error)
	Orders(ctx context.Context, hs []erp.OrderHeader, reuse func(erp.OrderHeader) (erp.Order, bool)) ([]erp.Order, error)
	Order(ctx context.Context, orderNumber string) (erp.Order, error)
	InvoiceHeaders(ctx context.Context, q erp.ListQuery) (erp.Page[erp.InvoiceHeader], error)
	Invoices(ctx context.Context, hs []erp.InvoiceHeader, reuse func(erp.InvoiceHeader) (erp.Invoice, bool)) ([]erp.Invoice, error)
	Invoice(ctx context.Context, invoiceNumber string) (erp.Invoice, error)
	InvoicePDF(ctx context.Context, invoiceNumber string) (erp.Document, error)
	CatalogERP
}

// Validator checks an answer against the named JSON Schema.
type Validator interface {
	Validate(name string, body []byte) error
}

// Config holds the service's settings.
type Config struct {
	TTLList   time.Duration // freshness of list answers (CACHE_TTL_LIST)
	TTLDetail time.Duration // freshness of single answers (CACHE_TTL_DETAIL)
	// Budget is the most time the ERP work of a document, or of a webhook's
	// refresh, may take, retries included (EXTEND_TIMEOUT).
	Budget time.Duration
	// SweepEvery is the period of the change sweep (CACHE_SWEEP_EVERY,
	// RunSweeps); 0: none.
	SweepEvery time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DocumentBytes bounds the invoice PDFs kept in this process
	// (documents.go); 0 means DefaultDocumentBytes.
	DocumentBytes int64
}

// Service answers the pull calls. It is safe for concurrent use.
type Service struct {
	erp     ERP
	cache   *cache.Cache
	schemas Validator
	mapper  *mapping.Mapper
	links   *doclink.Signer
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	kinds   kinds
	docs    *cache.Cache // invoice PDFs, in this process (documents.go)
}

// kinds are the cache's families of entries, one per endpoint, and the
// raw records.
type kinds struct {
	orders, order, invoices, invoice, creditInvoices, backorders, addresses, prices, stock, record, document cache.Kind
}

// New returns a Service that fills c from e. log may be nil.
func New(e ERP, c *cache.Cache, v Validator, m *mapping.Mapper, links *doclink.Signer, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	// Orders and invoices, and the records behind them, are tracked:
	// fresh until Extend announces a change (changes.go). Addresses,
	// prices and stock have no such announcement: their TTL is all.
	list := func(name string, tracked bool) cache.Kind {
		return cache.Kind{Name: name, TTL: cfg.TTLList, Tracked: tracked}
	}
	detail := func(name string, tracked bool) cache.Kind {
		return cache.Kind{Name: name, TTL: cfg.TTLDetail, Tracked: tracked}
	}
	return &Service{erp: e, cache: c, schemas: v, mapper: m, links: links, cfg: cfg, log: log, now: now,
		kinds: kinds{
			orders: list("orders", true), order: detail("order", true), backorders: list("backorders", true),
			invoices: list("invoices", true), invoice: detail("invoice", true), creditInvoices: list("credit-invoices", true),
			record:    detail("record", true),
			addresses: detail("addresses", false), prices: list("prices", false), stock: list("stock", false),
			document: detail("document", false),
		},
		docs: newDocuments(cfg, now),
	}
}

// Answer is a finished JSON answer, and what the cache did for it.
type Answer struct {
	Body []byte
	cache.Outcome
}

// ListQuery is a validated list request.
type ListQuery struct {
	From, To      string // YYYY-MM-DD, inclusive
	Page, PerPage int
}

// serve answers from the cache under key, which build fills.
func (s *Service) serve(ctx context.Context, kind cache.Kind, key string, build cache.Fill) (Answer, error) {
	e, o, err := s.cache.Get(ctx, kind, key, build)
	return Answer{Body: e.Body, Outcome: o}, err
}

// encode marshals v and checks it against the named schema. An answer
// that fails it is logged, and never cached or shown.
func (s *Service) encode(schema string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("pull: encode %s: %w", schema, err)
	}
	if err := s.schemas.Validate(schema, b); err != nil {
		s.log.Error("answer failed its schema; not cached", "schema", schema, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrSchema, err)
	}
	return b, nil
}

// keepRecord keeps an ERP record for reuse while its ChangedAt stands.
func (s *Service) keepRecord(ctx context.Context, key string, rec any) {
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	s.cache.Put(ctx, s.kinds.record, key, b)
}

// reuseOrder returns the record cache for erp.Client.Orders: a kept order
// whose ChangedAt is the header's. Its reads share the fill's context
// (its deadline and trace), each bounded by reuseWait.
func (s *Service) reuseOrder(ctx context.Context) func(erp.OrderHeader) (erp.Order, bool) {
	return func(h erp.OrderHeader) (erp.Order, bool) {
		var o erp.Order
		ok := s.reuse(ctx, keys.OrderRecord(h.OrderNumber), &o) && o.ChangedAt == h.ChangedAt && h.ChangedAt != ""
		return o, ok
	}
}

// reuseInvoice is reuseOrder for invoices.
func (s *Service) reuseInvoice(ctx context.Context) func(erp.InvoiceHeader) (erp.Invoice, bool) {
	return func(h erp.InvoiceHeader) (erp.Invoice, bool) {
		var inv erp.Invoice
		ok := s.reuse(ctx, keys.InvoiceRecord(h.InvoiceNumber), &inv) && inv.ChangedAt == h.ChangedAt && h.ChangedAt != ""
		return inv, ok
	}
}

// reuseWait bounds one record read: past it the record is fetched.
const reuseWait = 250 * time.Millisecond

// reuse reads the record kept under key into rec.
func (s *Service) reuse(ctx context.Context, key string, rec any) bool {
	ctx, cancel := context.WithTimeout(ctx, reuseWait)
	defer cancel()
	e, ok := s.cache.Peek(ctx, s.kinds.record, key)
	return ok && json.Unmarshal(e.Body, rec) == nil
}

// Stats returns the cache's counters.
func (s *Service) Stats() *cache.Stats { return s.cache.Stats() }
