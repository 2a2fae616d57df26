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
//
// With Redis (several replicas), the cache has two tiers: a bounded
// in-process tier (Config.Local) in front of Redis, so that a hit costs no
// round trip. Replicas coalesce their fills with a short Redis lock: one
// fetches, the others wait for its answer. Flushes cost O(1): every key in
// Redis carries the flush-all generation and its customer's generation
// (cache.Keys.Generation); a flush increments one and announces it on
// pub/sub, which Service.Run turns into the in-process tiers forgetting
// what they held (at once, or within a second should a notice be lost).
// While Redis fails, the in-process tier and the ERP answer alone, and
// Redis is left alone for a second after each failure.
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
	CatalogERP
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
	// Local, if not nil, is an in-process tier in front of the store given
	// to New (a *cache.Memory in front of a *cache.Redis shared by
	// replicas): a hit in it costs no network round trip. nil: none.
	Local Local
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

// ReplicaObserver may be implemented by an Observer to count apart the
// requests that waited on another replica's fetch (a Redis lock held
// elsewhere); without it those waits are told to Coalesced as well.
type ReplicaObserver interface {
	// CoalescedReplica is called for a fill that waited on another
	// replica's fetch instead of asking the ERP.
	CoalescedReplica(endpoint string)
}

type nopObserver struct{}

func (nopObserver) CacheResult(string, string) {}
func (nopObserver) Coalesced(string)           {}
func (nopObserver) Fetch(string)               {}

// Service answers the pull calls. It is safe for concurrent use.
type Service struct {
	erp     ERP
	store   Store  // tiers, as a Store
	tiers   *tiers // the in-process tier in front of the configured store
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

// New returns a Service that caches in store, behind cfg.Local when set.
// When store is shared by replicas (it has the methods of Shared, as
// *cache.Redis does), they coalesce their fills and flushes through it;
// run Service.Run then, so that this replica hears of the others'
// flushes. log may be nil.
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
	t := newTiers(store, cfg.Local, max(cfg.TTLList, cfg.TTLDetail)+cfg.StaleFor, log, now)
	return &Service{erp: e, store: t, tiers: t, schemas: v, mapper: m, links: links, cfg: cfg, log: log, now: now, obs: obs}
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
	// Tier is where a Hit or Stale answer was found: TierMemory or
	// TierShared ("" for a Miss).
	Tier string
	// Collapsed: a Miss that waited on a fetch another request made, in
	// this process or (Replica) on another replica.
	Collapsed, Replica bool
	// Stored: a Miss whose answer was kept in the cache.
	Stored bool
	// Expired: a Miss for which an answer too old to serve was cached.
	Expired bool
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
// endpoint names the call for the counters (Observer), e.g. "orders". A
// fresh answer is served as stored: no ERP work, no JSON encoding, no
// schema check, and no network round trip when the in-process tier has
// it. A stale one is served at once while one background refresh runs. A
// missing one is built once however many ask for it, in this process
// (singleflight) and across replicas (a short Redis lock; see fill).
func (s *Service) serve(ctx context.Context, endpoint, key string, ttl time.Duration, build func(context.Context) ([]byte, error)) (Answer, error) {
	now := s.now()
	ent, found := s.lookup(ctx, key)
	expired := false
	if found {
		age := now.Sub(ent.built)
		if age < ttl {
			s.count(endpoint, Hit)
			return Answer{Body: ent.body, Cache: Hit, Age: age, TTL: ttl - age, Tier: ent.tier}, nil
		}
		if age < ttl+s.cfg.StaleFor {
			// Stale-while-revalidate: one background refresh per key.
			s.count(endpoint, Stale)
			s.flight.DoChan(key, func() (any, error) { return s.fill(ctx, endpoint, key, ttl, build) })
			return Answer{Body: ent.body, Cache: Stale, Age: age, TTL: ttl - age, Tier: ent.tier}, nil
		}
		expired = true
	}
	ch := s.flight.DoChan(key, func() (any, error) { return s.fill(ctx, endpoint, key, ttl, build) })
	select {
	case res := <-ch:
		if res.Shared {
			s.stats.Coalesced.Add(1)
			s.obs.Coalesced(endpoint)
		}
		if res.Err != nil {
			if a, ok := s.lastChance(ctx, key, ttl, found); ok {
				s.count(endpoint, Stale)
				return a, nil
			}
			s.count(endpoint, Miss)
			return Answer{}, res.Err
		}
		s.count(endpoint, Miss)
		f := res.Val.(filled)
		age := max(s.now().Sub(f.built), 0)
		return Answer{
			Body: f.body, Cache: Miss, Age: age, TTL: ttl - age,
			Collapsed: res.Shared || f.replica, Replica: f.replica, Stored: f.stored, Expired: expired,
		}, nil
	case <-ctx.Done():
		s.count(endpoint, Miss)
		return Answer{}, ctx.Err()
	}
}

// count records a request's one cache outcome, in Stats and the Observer.
func (s *Service) count(endpoint, result string) {
	switch result {
	case Hit:
		s.stats.Hits.Add(1)
	case Stale:
		s.stats.Stale.Add(1)
	default:
		s.stats.Misses.Add(1)
	}
	s.obs.CacheResult(endpoint, result)
}

// lastChance is stale-if-error's last resort after a failed fill: when the
// first lookup found nothing, perhaps only because the shared store was
// busy or briefly away, it reads the shared tier once more (bounded) and
// returns a stale answer still inside the stale window. An entry the first
// lookup found but past that window is not read again.
func (s *Service) lastChance(ctx context.Context, key string, ttl time.Duration, found bool) (Answer, bool) {
	if found {
		return Answer{}, false
	}
	b, ok := s.tiers.getAnyway(ctx, key)
	if !ok {
		return Answer{}, false
	}
	ent, ok := decodeEntry(b)
	age := s.now().Sub(ent.built)
	if !ok || age >= ttl+s.cfg.StaleFor {
		return Answer{}, false
	}
	return Answer{Body: ent.body, Cache: Stale, Age: age, TTL: ttl - age, Tier: TierShared}, true
}

// filled is what fill made.
type filled struct {
	body    []byte
	built   time.Time
	replica bool // built by another replica, read from the shared store
	stored  bool // kept in at least one tier
}

// fill builds the answer for key and stores it, detached from the
// caller's context so that a caller who hangs up does not cancel the work
// others wait for.
//
// With a shared store, fill first takes the key's lock there (SET NX PX).
// A replica that finds the lock held waits for the holder's answer
// instead, polling the shared store, for at most the holder's ERP budget;
// when the holder fails or dies, the waiter builds the answer itself. The
// build gets its own ERP budget either way.
func (s *Service) fill(ctx context.Context, endpoint, key string, ttl time.Duration, build func(context.Context) ([]byte, error)) (filled, error) {
	ctx = context.WithoutCancel(ctx)
	ctx, snap, known := s.tiers.withGens(ctx, key)
	if known && s.tiers.usable() {
		gkey := keys.Generation(key, snap.all, snap.cust)
		lockKey := keys.Lock(gkey)
		token, err := s.tiers.shared.TryLock(ctx, lockKey, s.lockTTL())
		switch {
		case err != nil:
			s.tiers.failed("lock", err) // build without the lock
		case token == "":
			if f, ok := s.awaitReplica(ctx, key, lockKey, ttl); ok {
				s.stats.ReplicaWaits.Add(1)
				if ro, ok := s.obs.(ReplicaObserver); ok {
					ro.CoalescedReplica(endpoint)
				} else {
					s.obs.Coalesced(endpoint)
				}
				return f, nil
			}
		default:
			defer func() {
				uctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				if err := s.tiers.shared.Unlock(uctx, lockKey, token); err != nil {
					s.tiers.failed("unlock", err)
				}
			}()
			// Another replica may have filled the key just before.
			if f, ok := s.freshShared(ctx, key, ttl); ok {
				return f, nil
			}
		}
	}
	bctx, cancel := context.WithTimeout(ctx, s.cfg.Budget)
	defer cancel()
	s.stats.Fetches.Add(1)
	s.obs.Fetch(endpoint)
	body, err := build(bctx)
	s.health.observe(err, s.now())
	if err != nil {
		if errors.Is(err, ErrSchema) {
			s.log.Error("answer failed its schema; not cached", "key", key, "err", err)
		}
		return filled{}, err
	}
	built := s.now()
	if err := s.store.Set(ctx, key, encodeEntry(built, body), ttl+s.cfg.StaleFor); err != nil {
		s.log.Warn("cache set failed", "key", key, "err", err)
		return filled{body: body, built: built}, nil
	}
	return filled{body: body, built: built, stored: true}, nil
}

// lockTTL is how long a fill's lock lives: the ERP budget, and a margin
// for storing the answer. A holder that dies keeps the others waiting at
// most this long.
func (s *Service) lockTTL() time.Duration { return s.cfg.Budget + time.Second }

// awaitReplica waits for another replica's fill of key: until a fresh
// entry is in the shared store (ok), or the lock is gone without one, or
// the lock's lifetime has passed (not ok: build it here).
func (s *Service) awaitReplica(ctx context.Context, key, lockKey string, ttl time.Duration) (filled, bool) {
	deadline := time.Now().Add(s.lockTTL())
	wait := time.Millisecond
	for time.Now().Before(deadline) {
		time.Sleep(wait)
		wait = min(wait*2, 5*time.Millisecond)
		if f, ok := s.freshShared(ctx, key, ttl); ok {
			f.replica = true
			return f, true
		}
		held, err := s.tiers.shared.Exists(ctx, lockKey)
		if err != nil {
			s.tiers.failed("lock wait", err)
			return filled{}, false
		}
		if !held {
			// The holder stores before it unlocks: look once more.
			f, ok := s.freshShared(ctx, key, ttl)
			f.replica = true
			return f, ok
		}
	}
	return filled{}, false
}

// freshShared reads key from the shared store, and returns it when it is
// fresh.
func (s *Service) freshShared(ctx context.Context, key string, ttl time.Duration) (filled, bool) {
	all, cust, ok := s.tiers.generations(ctx, keys.Scope(key))
	if !ok {
		return filled{}, false
	}
	b, found, err := s.tiers.shared.Get(ctx, keys.Generation(key, all, cust))
	if err != nil {
		s.tiers.failed("get", err)
		return filled{}, false
	}
	ent, ok := decodeEntry(b)
	if !found || !ok || s.now().Sub(ent.built) >= ttl {
		return filled{}, false
	}
	s.tiers.setLocal(ctx, key, all, cust, b, s.tiers.keepLeft(b))
	return filled{body: ent.body, built: ent.built, stored: true}, true
}

// entry is a cached answer or record and when it was built.
type entry struct {
	built time.Time
	body  []byte
	tier  string // TierMemory or TierShared
}

// lookup reads an entry from the tiers; a cache failure counts as a miss.
func (s *Service) lookup(ctx context.Context, key string) (entry, bool) {
	b, tier, ok := s.tiers.get(ctx, key)
	if !ok {
		return entry{}, false
	}
	ent, ok := decodeEntry(b)
	ent.tier = tier
	return ent, ok
}

// decodeEntry splits what encodeEntry made.
func decodeEntry(b []byte) (entry, bool) {
	if len(b) < 8 {
		return entry{}, false
	}
	return entry{built: time.Unix(0, int64(binary.BigEndian.Uint64(b))), body: b[8:]}, true // #nosec G115 -- the bit pattern of a UnixNano written by encodeEntry
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
	if err := s.store.Set(ctx, key, encodeEntry(s.now(), b), s.cfg.TTLDetail+s.cfg.StaleFor); err != nil {
		s.log.Warn("cache set failed", "key", key, "err", err)
	}
}

// reuseOrder returns the record cache for erp.Client.Orders: a stored
// order whose ChangedAt is the header's. Its reads share the fill's
// context (its deadline and trace), each bounded by reuseWait.
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

// reuseWait bounds one record-cache read: past it the record is fetched.
const reuseWait = 250 * time.Millisecond

// reuse reads the record stored under key into rec.
func (s *Service) reuse(ctx context.Context, key string, rec any) bool {
	ctx, cancel := context.WithTimeout(ctx, reuseWait)
	defer cancel()
	ent, ok := s.lookup(ctx, key)
	if !ok {
		return false
	}
	if json.Unmarshal(ent.body, rec) != nil {
		return false
	}
	s.stats.RecordReuses.Add(1)
	return true
}

// Stats counts what the service did; read with Load.
type Stats struct {
	Hits, Misses, Stale, Coalesced, Fetches, RecordReuses atomic.Int64
	// ReplicaWaits counts fills that waited on another replica's fetch.
	ReplicaWaits atomic.Int64
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
