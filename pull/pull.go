// Package pull answers Vendre's pull calls: it turns a request for a
// customer's orders or invoices into Extend Commerce calls, maps the records
// to Vendre's shape, checks the answer against its JSON Schema, and caches
// the finished bytes.
//
// Every answer is scoped to the customer who asked: cache keys hold the
// customer number, and every record fetched from the ERP is checked to
// belong to that customer before it is shown; a record of another customer
// is reported exactly like a missing one (ErrNotFound).
//
// Caching: an answer is fresh for its TTL (CACHE_TTL_LIST or
// CACHE_TTL_DETAIL) and is kept CACHE_STALE_FOR longer. A fresh answer is
// served as it is stored (no ERP work, no JSON encoding, no schema check).
// A stale one is served at once while one background refresh runs
// (stale-while-revalidate), and it stands in for the ERP while the ERP
// fails (stale-if-error). Concurrent requests for one missing key make one
// ERP fetch (singleflight), detached from the first caller's context.
package pull

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

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
	InvoicePDF(ctx context.Context, invoiceNumber string) (*erp.Document, error)
}

// Store is the cache the service keeps answers and records in.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// Validator checks an answer against the named JSON Schema.
type Validator interface {
	Validate(name string, body []byte) error
}

// Config holds the service's settings.
type Config struct {
	TTLList   time.Duration // freshness of list answers
	TTLDetail time.Duration // freshness of single answers
	StaleFor  time.Duration // how long past freshness an answer may stand in
	// Budget is the most time one request's ERP work may take, retries
	// included (EXTEND_TIMEOUT).
	Budget time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer is told what the cache did; nil means nobody.
	Observer Observer
}

// Observer is told of every cache outcome, for metrics. Its methods must be
// cheap and safe for concurrent use.
type Observer interface {
	// CacheResult is called once per request with Hit, Miss or Stale.
	CacheResult(endpoint, result string)
	// Coalesced is called for a request that waited on another's fetch.
	Coalesced(endpoint string)
	// Fetch is called for every fill from the ERP.
	Fetch(endpoint string)
}

type nopObserver struct{}

func (nopObserver) CacheResult(string, string) {}
func (nopObserver) Coalesced(string)           {}
func (nopObserver) Fetch(string)               {}

// Service answers the pull calls. It is safe for concurrent use.
type Service struct {
	erp     ERP
	store   Store
	schemas Validator
	mapper  *mapping.Mapper
	links   *doclink.Signer
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	obs     Observer

	flight singleflight.Group
	health erpHealth
	stats  Stats
}

// New returns a Service. log may be nil.
func New(e ERP, store Store, v Validator, m *mapping.Mapper, links *doclink.Signer, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	return &Service{erp: e, store: store, schemas: v, mapper: m, links: links, cfg: cfg, log: log, now: now, obs: obs}
}

// Cache outcomes, as sent in X-Cache.
const (
	Hit   = "HIT"
	Miss  = "MISS"
	Stale = "STALE"
)

// Answer is a finished JSON answer.
type Answer struct {
	Body  []byte
	Cache string        // Hit, Miss or Stale
	Age   time.Duration // time since the answer was built
	TTL   time.Duration // freshness left; negative when stale
}

// ListQuery is a validated list request.
type ListQuery struct {
	From, To      string // YYYY-MM-DD, inclusive
	Page, PerPage int
}

// encode marshals v and checks it against the named schema.
func (s *Service) encode(schema string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("pull: encode %s: %w", schema, err)
	}
	if err := s.schemas.Validate(schema, b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSchema, err)
	}
	return b, nil
}

// serve answers from the cache under key, or builds the answer with build.
//
// endpoint names the call for the counters (Observer), e.g. "orders".
func (s *Service) serve(ctx context.Context, endpoint, key string, ttl time.Duration, build func(context.Context) ([]byte, error)) (Answer, error) {
	now := s.now()
	ent, found := s.lookup(ctx, key)
	if found {
		age := now.Sub(ent.built)
		if age < ttl {
			s.stats.Hits.Add(1)
			s.obs.CacheResult(endpoint, Hit)
			return Answer{Body: ent.body, Cache: Hit, Age: age, TTL: ttl - age}, nil
		}
		if age < ttl+s.cfg.StaleFor {
			// Stale-while-revalidate: one background refresh per key.
			s.stats.Stale.Add(1)
			s.obs.CacheResult(endpoint, Stale)
			s.flight.DoChan(key, func() (any, error) { return s.fill(ctx, endpoint, key, ttl, build) })
			return Answer{Body: ent.body, Cache: Stale, Age: age, TTL: ttl - age}, nil
		}
	}
	s.stats.Misses.Add(1)
	s.obs.CacheResult(endpoint, Miss)
	ch := s.flight.DoChan(key, func() (any, error) { return s.fill(ctx, endpoint, key, ttl, build) })
	select {
	case res := <-ch:
		if res.Shared {
			s.stats.Coalesced.Add(1)
			s.obs.Coalesced(endpoint)
		}
		if res.Err != nil {
			return Answer{}, res.Err
		}
		return Answer{Body: res.Val.([]byte), Cache: Miss, TTL: ttl}, nil
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	}
}

// fill builds the answer for key within the ERP budget, detached from the
// caller's context so that a caller who hangs up does not cancel the work
// others wait for, and stores it.
func (s *Service) fill(ctx context.Context, endpoint, key string, ttl time.Duration, build func(context.Context) ([]byte, error)) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Budget)
	defer cancel()
	s.stats.Fetches.Add(1)
	s.obs.Fetch(endpoint)
	body, err := build(ctx)
	s.health.observe(err, s.now())
	if err != nil {
		if errors.Is(err, ErrSchema) {
			s.log.Error("answer failed its schema; not cached", "key", key, "err", err)
		}
		return nil, err
	}
	if err := s.store.Set(ctx, key, encodeEntry(s.now(), body), ttl+s.cfg.StaleFor); err != nil {
		s.log.Warn("cache set failed", "key", key, "err", err)
	}
	return body, nil
}

type entry struct {
	built time.Time
	body  []byte
}

// lookup reads an entry; a cache failure counts as a miss.
func (s *Service) lookup(ctx context.Context, key string) (entry, bool) {
	b, ok, err := s.store.Get(ctx, key)
	if err != nil {
		s.log.Warn("cache get failed", "key", key, "err", err)
		return entry{}, false
	}
	if !ok || len(b) < 8 {
		return entry{}, false
	}
	return entry{built: time.Unix(0, int64(binary.BigEndian.Uint64(b))), body: b[8:]}, true
}

// encodeEntry prefixes body with the time it was built.
func encodeEntry(built time.Time, body []byte) []byte {
	b := make([]byte, 8+len(body))
	binary.BigEndian.PutUint64(b, uint64(built.UnixNano()))
	copy(b[8:], body)
	return b
}

// keepRecord stores an ERP record for reuse while its ChangedAt stands.
func (s *Service) keepRecord(ctx context.Context, key string, rec any) {
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	if err := s.store.Set(ctx, key, b, s.cfg.TTLDetail+s.cfg.StaleFor); err != nil {
		s.log.Warn("cache set failed", "key", key, "err", err)
	}
}

func (s *Service) reuseOrder(h erp.OrderHeader) (erp.Order, bool) {
	var o erp.Order
	ok := s.reuse(keys.OrderRecord(h.OrderNumber), &o) && o.ChangedAt == h.ChangedAt && h.ChangedAt != ""
	return o, ok
}

func (s *Service) reuseInvoice(h erp.InvoiceHeader) (erp.Invoice, bool) {
	var inv erp.Invoice
	ok := s.reuse(keys.InvoiceRecord(h.InvoiceNumber), &inv) && inv.ChangedAt == h.ChangedAt && h.ChangedAt != ""
	return inv, ok
}

func (s *Service) reuse(key string, rec any) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	b, ok, err := s.store.Get(ctx, key)
	if err != nil || !ok {
		return false
	}
	if json.Unmarshal(b, rec) != nil {
		return false
	}
	s.stats.RecordReuses.Add(1)
	return true
}

// Stats counts what the service did; read with Load.
type Stats struct {
	Hits, Misses, Stale, Coalesced, Fetches, RecordReuses atomic.Int64
}

// Stats returns the service's counters.
func (s *Service) Stats() *Stats { return &s.stats }

// ERPDown reports whether the ERP is known to be down: every ERP call of the
// last few seconds failed.
func (s *Service) ERPDown() bool { return s.health.down(s.now()) }

// cancelOnClose ends a document's ERP context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
