// Package orders is the order pusher: shop orders into Extend Commerce,
// each created exactly once, then the shop told the outcome.
//
// Sources (adapters, one per shop system) hand orders in: the Vendre
// new_order webhook (ReceiveVendre), and xSale's and RetailCRM's
// status-driven pulls (Pollers, each polled by one replica at a time under
// a lease with a fencing token). Record writes an order once, by its
// external order number (V-<id>, X-<Id>, R-<id>), to a Redis hash plus a
// due-time sorted set; an order already recorded is not recorded again.
// A Verifier source has its orders checked before any create (xSale: every
// product known to Extend); a Shipper source is told, once, when Extend
// picked one of its orders (shipments.go).
//
// Workers on every replica claim due orders one at a time: the claim
// pushes the order's due time one visibility period ahead and gives it a
// fresh fencing token, so a claim is held by one worker and falls back to
// the others if that worker dies. Every state change is a Lua script that
// first checks the token.
//
// Exactly once, although Extend accepts duplicate ExternalOrderNumbers:
//   - the state "creating" is written (fenced) BEFORE the create is sent;
//   - an order found in "creating" (a timeout, a 5xx, a crash mid-call) is
//     looked up by ExternalOrderNumber before anything else, and a second
//     create is sent only when that look-up answered "not there";
//   - a create is sent only when the claim has at least Budget+margin
//     left, and the call is bounded by Budget, so no other worker can
//     claim the order while a create may still be in flight.
//
// Mapping errors (unknown product, bad address, missing customer) and
// Extend's Validation errors are not retried: the order goes to manual
// handling with the reason, the source is told (xSale: the manual status),
// and it is listed as a dead letter that Replay re-drives once fixed.
package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/vendre-extend/gateway/clip"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers"
)

// ErrMapping is wrapped by a source's Map error when the order cannot
// become an Extend order (unknown product, bad address...): it goes to
// manual handling, not retried.
var ErrMapping = errors.New("orders: cannot map the order")

// ERP is what the pusher needs of Extend Commerce; *erp.Client has it.
type ERP interface {
	// CreateOrder is never retried by the client; see erp.Client.
	CreateOrder(ctx context.Context, o erp.NewOrder) (string, error)
	FindOrderByExternalNumber(ctx context.Context, ext string) (erp.OrderHeader, bool, error)
}

// Outcome is what a source is told about one of its orders.
type Outcome struct {
	Imported bool   // created in Extend (or found there)
	ERPOrder string // Extend's order number when Imported
	Reason   string // why not, when !Imported (manual handling)
}

// Source is one shop system's adapter.
type Source interface {
	// Name is its name in ORDER_SOURCES.
	Name() string
	// External is the ExternalOrderNumber of the shop's order id.
	External(id string) string
	// Map turns a recorded payload into an Extend order (without
	// ExternalOrderNumber). Errors wrapping ErrMapping go to manual
	// handling.
	Map(id string, payload []byte) (erp.NewOrder, error)
	// Notify tells the shop the outcome; it must be safe to repeat.
	Notify(ctx context.Context, id string, o Outcome) error
}

// Poller is a Source that is pulled from.
type Poller interface {
	Source
	// Every is the polling period.
	Every() time.Duration
	// Poll reads the orders waiting in the shop and hands each to emit;
	// an emit error ends the poll.
	Poll(ctx context.Context, emit func(id string, payload []byte) error) error
}

// Order states (field "state" of an order's hash).
const (
	statePending  = "pending"  // recorded; no create sent since the last look-up said "not there"
	stateCreating = "creating" // a create may have been sent: look up before anything else
	stateCreated  = "created"  // Extend has it (erp_order); the source is told next
	stateManual   = "manual"   // needs a person (reason); the source is told next
	stateImported = "imported" // created and the source told: done
	stateHandled  = "handled"  // manual and the source told: done until replayed
)

// Config configures a Pusher.
type Config struct {
	// Prefix of every Redis key; "gwq:" when "".
	Prefix string
	// Workers is how many orders this replica works on at once; default 4.
	Workers int
	// Budget bounds each ERP call (EXTEND_TIMEOUT); default 3s.
	Budget time.Duration
	// Visibility is how long a claim lasts; default max(15s, 4×Budget).
	Visibility time.Duration
	// RetryBase and RetryMax bound the backoff between tries of one
	// order; default 1s and 5m.
	RetryBase, RetryMax time.Duration
	// MaxTries is how often an order may fail for transient reasons before
	// it is parked as a dead letter; default 50.
	MaxTries int
	// Poll is how often an idle worker looks for due orders; default 500ms.
	Poll time.Duration
	// Retention is how long a finished order is remembered (redeliveries
	// within it are recognised); default 30 days.
	Retention time.Duration
	// DeadLetterRetention is how long a dead letter is kept
	// (DEAD_LETTER_RETENTION); default pushers.DefaultDeadLetterRetention.
	DeadLetterRetention time.Duration
	Logger              *slog.Logger
	Now                 func() time.Time
}

// Pusher creates shop orders in Extend. Run it on every replica.
type Pusher struct {
	rdb     redis.UniversalClient
	erp     ERP
	sources map[string]Source
	order   []Source
	vendre  *Vendre
	cfg     Config
	k       keys
	rec     *pushers.Recorder
	dead    *pushers.DeadLetters
	log     *slog.Logger
	running atomic.Bool
	poke    chan struct{}
	statsMu sync.Mutex
	stats   Stats
}

// Stats counts what this process did.
type Stats struct {
	Recorded   int64 // orders recorded
	Duplicates int64 // orders handed in again and not recorded
	Creates    int64 // creates sent
	Created    int64 // creates Extend confirmed
	Found      int64 // orders found by a look-up after an unclear create
	Ambiguous  int64 // creates whose outcome was unclear
	Manual     int64 // orders sent to manual handling
	Notified   int64 // outcomes told to a source
	Picked     int64 // OrderPicked events queued for a Shipper (shipments.go)
	Shipped    int64 // shipments told to a source
}

type keys struct{ p string }

func (k keys) order(ext string) string    { return k.p + "{orders}:o:" + ext }
func (k keys) orderPrefix() string        { return k.p + "{orders}:o:" }
func (k keys) due() string                { return k.p + "{orders}:due" }
func (k keys) fence() string              { return k.p + "{orders}:fence" }
func (k keys) dead() string               { return k.p + "{orders}:dead" }
func (k keys) status() string             { return k.p + "{orders}:status" }
func (k keys) lease(source string) string { return k.p + "{orders}:lease:" + source }

// New returns a pusher creating orders from sources in e.
func New(rdb redis.UniversalClient, e ERP, sources []Source, cfg Config) *Pusher {
	if cfg.Prefix == "" {
		cfg.Prefix = "gwq:"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 3 * time.Second
	}
	if cfg.Visibility <= 0 {
		cfg.Visibility = max(15*time.Second, 4*cfg.Budget)
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.MaxTries <= 0 {
		cfg.MaxTries = 50
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := keys{cfg.Prefix}
	p := &Pusher{
		rdb: rdb, erp: e, sources: map[string]Source{}, cfg: cfg, k: k,
		rec:  pushers.NewRecorder(rdb, k.status()),
		dead: pushers.NewDeadLetters(rdb, k.dead(), cfg.DeadLetterRetention),
		log:  cfg.Logger, poke: make(chan struct{}, 1),
	}
	for _, s := range sources {
		p.sources[s.Name()] = s
		p.order = append(p.order, s)
		if v, ok := s.(*Vendre); ok {
			p.vendre = v
		}
	}
	return p
}

// Name is "orders".
func (p *Pusher) Name() string { return "orders" }

// DeadLetters is the orders that need a person or failed too often.
func (p *Pusher) DeadLetters() *pushers.DeadLetters { return p.dead }

// The admin API pages through the orders' dead letters.
var _ pushers.Parker = (*Pusher)(nil)

// Stats returns a copy of the counters.
func (p *Pusher) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.stats
}

func (p *Pusher) count(f func(*Stats)) {
	p.statsMu.Lock()
	f(&p.stats)
	p.statsMu.Unlock()
}

// validID is what a shop order id may be: it becomes part of a Redis key
// and of the ExternalOrderNumber.
var validID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// errFenced is a write refused because this replica no longer holds the
// source's lease.
var errFenced = errors.New("orders: lease lost")

// recordScript records an order once. KEYS: order, due[, lease].
// ARGV: source, id, payload, now ms, ext[, lease token].
var recordScript = redis.NewScript(`
if #KEYS == 3 and redis.call('GET', KEYS[3]) ~= ARGV[6] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'source', ARGV[1], 'source_id', ARGV[2], 'payload', ARGV[3],
  'state', 'pending', 'received_at', ARGV[4], 'tries', '0', 'creates', '0', 'owner', '0')
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return 1
`)

// Record writes the shop order id of source with its payload, unless it
// is already recorded; it reports whether it was new. Errors: Redis
// failures (the caller must not acknowledge the order to the shop).
func (p *Pusher) Record(ctx context.Context, source, id string, payload []byte) (bool, error) {
	return p.record(ctx, source, id, payload, nil, 0)
}

func (p *Pusher) record(ctx context.Context, source, id string, payload []byte, lease *pushers.Lease, tok int64) (bool, error) {
	src, ok := p.sources[source]
	if !ok {
		return false, fmt.Errorf("orders: unknown source %q", source)
	}
	if !validID.MatchString(id) {
		return false, fmt.Errorf("orders: %s: order id %.70q is not 1-64 of A-Z a-z 0-9 . _ -", source, id)
	}
	ext := src.External(id)
	ks := []string{p.k.order(ext), p.k.due()}
	args := []any{source, id, string(payload), p.cfg.Now().UnixMilli(), ext}
	if lease != nil {
		ks = append(ks, lease.Key())
		args = append(args, strconv.FormatInt(tok, 10))
	}
	n, err := recordScript.Run(ctx, p.rdb, ks, args...).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("orders: record %s: %w", ext, err)
	case n < 0:
		return false, errFenced
	case n == 0:
		p.count(func(s *Stats) { s.Duplicates++ })
		return false, nil
	}
	p.count(func(s *Stats) { s.Recorded++ })
	select {
	case p.poke <- struct{}{}:
	default:
	}
	return true, nil
}

// submitScript records an order its source checked as it arrived.
// KEYS: order, due. ARGV: source, id, payload, now ms, ext, reason.
// Answers the state before ("" when new) and after.
var submitScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if st and st ~= 'manual' and st ~= 'handled' then return {st, st} end
local next = 'pending'
if ARGV[6] ~= '' then next = 'manual' end
if not st then
  redis.call('HSET', KEYS[1], 'received_at', ARGV[4], 'creates', '0')
end
redis.call('HSET', KEYS[1], 'source', ARGV[1], 'source_id', ARGV[2], 'payload', ARGV[3],
  'state', next, 'reason', ARGV[6], 'tries', '0', 'owner', '0', 'parked', '0')
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return {st or '', next}
`)

// Submit records an order that its source checked as it arrived, for a
// shop that waits on the answer (Baselinker's OrderAdd). With reason ""
// it is recorded like Record; with a reason it goes straight to manual
// handling: listed as a dead letter with that reason, so that Replay
// re-drives it once the cause is fixed. An order recorded before keeps
// its state, unless it is in manual handling: then the shop's new payload
// replaces the old one and the order goes back to work (reason "") or
// stays in manual handling with the new reason (no second dead letter).
// It returns the order's state after. Errors: Redis failures.
func (p *Pusher) Submit(ctx context.Context, source, id string, payload []byte, reason string) (State, error) {
	src, ok := p.sources[source]
	if !ok {
		return State{}, fmt.Errorf("orders: unknown source %q", source)
	}
	if !validID.MatchString(id) {
		return State{}, fmt.Errorf("orders: %s: order id %.70q is not 1-64 of A-Z a-z 0-9 . _ -", source, id)
	}
	ext := src.External(id)
	res, err := submitScript.Run(ctx, p.rdb, []string{p.k.order(ext), p.k.due()},
		source, id, string(payload), p.cfg.Now().UnixMilli(), ext, reason).StringSlice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected answer %q", res)
	}
	if err != nil {
		return State{}, fmt.Errorf("orders: submit %s: %w", ext, err)
	}
	before, after := res[0], res[1]
	switch {
	case before == "":
		p.count(func(s *Stats) { s.Recorded++ })
	case before != stateManual && before != stateHandled:
		p.count(func(s *Stats) { s.Duplicates++ })
	}
	if after == stateManual && before == "" {
		p.toManual(ctx, ext, reason)
	}
	select {
	case p.poke <- struct{}{}:
	default:
	}
	st, _, err := p.Lookup(ctx, ext)
	return st, err
}

// claimScript takes the first due order: its due time moves a visibility
// period ahead and it gets a new fencing token. KEYS: due, fence.
// ARGV: now ms, visibility ms, order key prefix.
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #ids == 0 then return false end
local h = ARGV[3] .. ids[1]
if redis.call('EXISTS', h) == 0 then
  redis.call('ZREM', KEYS[1], ids[1])
  return {ids[1], '0'}
end
local tok = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ids[1])
redis.call('HSET', h, 'owner', tok)
return {ids[1], tostring(tok)}
`)

// updateScript changes an order only while tok holds it. KEYS: order, due.
// ARGV: tok, ext, due ms (-1: off the queue), ttl ms (0: keep), then
// field/value pairs. An order whose shipment is pending (shipments.go)
// stays on the queue unless it is being parked.
var updateScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
local due = tonumber(ARGV[3])
if due < 0 then redis.call('ZREM', KEYS[2], ARGV[2]) else redis.call('ZADD', KEYS[2], due, ARGV[2]) end
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
if due < 0 and redis.call('HGET', KEYS[1], 'ship') == 'pending' and redis.call('HGET', KEYS[1], 'parked') ~= '1' then
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
end
if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1
`)

// claim is one held order.
type claim struct {
	ext   string
	tok   string
	at    time.Time
	until time.Time
	h     map[string]string
}

// update applies fields under the claim; due is the next due time (zero
// time: off the queue); it reports whether the claim still held.
func (p *Pusher) update(ctx context.Context, c *claim, due time.Time, ttl time.Duration, fields ...any) (bool, error) {
	d := int64(-1)
	if !due.IsZero() {
		d = due.UnixMilli()
	}
	args := append([]any{c.tok, c.ext, d, ttl.Milliseconds()}, fields...)
	n, err := updateScript.Run(ctx, p.rdb, []string{p.k.order(c.ext), p.k.due()}, args...).Int()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// Run works due orders with Workers goroutines and polls each Poller
// source under its lease, until ctx ends; it returns nil then.
func (p *Pusher) Run(ctx context.Context) error {
	ctx = erp.WithClass(ctx, erp.Background) // nobody waits on these ERP calls
	p.running.Store(true)
	defer p.running.Store(false)
	g, gctx := errgroup.WithContext(ctx)
	for range p.cfg.Workers {
		g.Go(func() error { p.work(gctx); return nil })
	}
	for _, s := range p.order {
		if pl, ok := s.(Poller); ok {
			g.Go(func() error { p.poll(gctx, pl); return nil })
		}
	}
	return g.Wait()
}

// work is one worker's loop.
func (p *Pusher) work(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		now := p.cfg.Now()
		res, err := claimScript.Run(ctx, p.rdb, []string{p.k.due(), p.k.fence()},
			now.UnixMilli(), p.cfg.Visibility.Milliseconds(), p.k.orderPrefix()).StringSlice()
		if errors.Is(err, redis.Nil) {
			failures = 0
			select {
			case <-ctx.Done():
			case <-p.poke:
			case <-time.After(p.cfg.Poll):
			}
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				failures++
				p.log.Warn("orders: claim failed", "err", err)
				pushers.Sleep(ctx, pushers.Backoff(failures, 100*time.Millisecond, 5*time.Second))
			}
			continue
		}
		failures = 0
		if len(res) != 2 || res[1] == "0" {
			continue
		}
		h, err := p.rdb.HGetAll(ctx, p.k.order(res[0])).Result()
		if err != nil {
			continue // the claim lapses and the order comes back
		}
		c := &claim{ext: res[0], tok: res[1], at: now, until: now.Add(p.cfg.Visibility), h: h}
		if err := p.process(ctx, c); err != nil && ctx.Err() == nil {
			p.log.Warn("orders: processing failed", "order", c.ext, "err", err)
		}
	}
}

// process moves one claimed order as far as it can go.
func (p *Pusher) process(ctx context.Context, c *claim) error {
	src, ok := p.sources[c.h["source"]]
	if !ok {
		// Recorded by a replica with another configuration: leave it for
		// one that knows the source, but not in a tight loop.
		_, err := p.update(ctx, c, p.cfg.Now().Add(p.cfg.RetryMax), 0, "last_error", "source not configured here")
		return err
	}
	switch c.h["state"] {
	case stateImported, stateHandled:
		if c.h["ship"] == shipPending {
			return p.ship(ctx, c, src)
		}
		_, err := p.update(ctx, c, time.Time{}, p.cfg.Retention)
		return err
	case stateCreated, stateManual:
		return p.notify(ctx, c, src)
	case stateCreating:
		return p.resolve(ctx, c, src)
	}
	return p.create(ctx, c, src)
}

// resolve looks an order up after a create whose outcome is unknown.
func (p *Pusher) resolve(ctx context.Context, c *claim, src Source) error {
	lctx, cancel := context.WithTimeout(ctx, p.cfg.Budget)
	h, found, err := p.erp.FindOrderByExternalNumber(lctx, c.ext)
	cancel()
	if err != nil {
		err = fmt.Errorf("look-up after an unclear create: %w", err)
		if errors.Is(err, erp.ErrThrottled) { // the budget is spent for now: no failure of the order's
			return p.later(ctx, c, err)
		}
		return p.retry(ctx, c, err)
	}
	if found {
		p.count(func(s *Stats) { s.Found++ })
		p.log.Info("orders: found after an unclear create", "order", c.ext, "erp_order", h.OrderNumber)
		ok, err := p.update(ctx, c, c.until, 0, "state", stateCreated, "erp_order", h.OrderNumber, "tries", 0)
		if err != nil || !ok {
			return err
		}
		c.h["state"], c.h["erp_order"] = stateCreated, h.OrderNumber
		return p.notify(ctx, c, src)
	}
	// Not there: nothing was created, a create may be sent.
	ok, err := p.update(ctx, c, c.until, 0, "state", statePending)
	if err != nil || !ok {
		return err
	}
	return p.create(ctx, c, src)
}

// createMargin is time kept between the end of a create call and the end
// of the claim.
const createMargin = 2 * time.Second

// create maps the order and sends the create, the intent recorded first.
func (p *Pusher) create(ctx context.Context, c *claim, src Source) error {
	no, err := src.Map(c.h["source_id"], []byte(c.h["payload"]))
	if err != nil {
		return p.manual(ctx, c, src, err.Error())
	}
	if v, ok := src.(Verifier); ok { // products.go
		vctx, cancel := context.WithTimeout(ctx, p.cfg.Budget)
		err := v.Verify(vctx, &no)
		cancel()
		switch {
		case errors.Is(err, ErrMapping):
			return p.manual(ctx, c, src, err.Error())
		case err != nil:
			return p.retry(ctx, c, err)
		}
	}
	no.ExternalOrderNumber = c.ext
	if p.cfg.Now().Add(p.cfg.Budget + createMargin).After(c.until) {
		// Too little of the claim left to be sure no one else claims the
		// order while this create may be in flight: try again soon.
		_, err := p.update(ctx, c, p.cfg.Now(), 0)
		return err
	}
	creates, _ := strconv.Atoi(c.h["creates"])
	ok, err := p.update(ctx, c, c.until, 0, "state", stateCreating, "creates", creates+1,
		"last_create_at", p.cfg.Now().UnixMilli())
	if err != nil || !ok {
		return err // not recorded: do not send
	}
	p.count(func(s *Stats) { s.Creates++ })
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Budget)
	num, err := p.erp.CreateOrder(cctx, no)
	cancel()
	switch {
	case err == nil:
		p.count(func(s *Stats) { s.Created++ })
		ok, err := p.update(ctx, c, c.until, 0, "state", stateCreated, "erp_order", num, "tries", 0)
		if err != nil || !ok {
			return err // still "creating": the next claim finds it by look-up
		}
		c.h["state"], c.h["erp_order"] = stateCreated, num
		return p.notify(ctx, c, src)
	case errors.Is(err, erp.ErrValidation) || errors.Is(err, erp.ErrNotFound):
		// Extend refused the order: nothing was created.
		return p.manual(ctx, c, src, "Extend refused the order: "+err.Error())
	case errors.Is(err, erp.ErrThrottled):
		// The ERP's budget is spent for now (the guard kept the call back
		// for customers, or Extend answered 429): nothing was created, and
		// it is no failure of the order's. Again when the budget frees,
		// without counting a try.
		if ok, uerr := p.update(ctx, c, c.until, 0, "state", statePending); uerr != nil || !ok {
			return uerr
		}
		return p.later(ctx, c, err)
	case errors.Is(err, erp.ErrUnauthorized):
		// Refused before anything was created: no look-up needed.
		if ok, uerr := p.update(ctx, c, c.until, 0, "state", statePending); uerr != nil || !ok {
			return uerr
		}
		return p.retry(ctx, c, err)
	}
	// Timeout, 5xx, a broken connection, an unreadable answer: it may have
	// been created. The state stays "creating": look up first next time.
	p.count(func(s *Stats) { s.Ambiguous++ })
	return p.retry(ctx, c, fmt.Errorf("create outcome unknown: %w", err))
}

// manual sends an order to manual handling with reason, parks it as a
// dead letter and tells the source.
func (p *Pusher) manual(ctx context.Context, c *claim, src Source, reason string) error {
	reason = clip.String(reason, clip.Message)
	ok, err := p.update(ctx, c, c.until, 0, "state", stateManual, "reason", reason)
	if err != nil || !ok {
		return err
	}
	p.toManual(ctx, c.ext, reason)
	c.h["state"], c.h["reason"] = stateManual, reason
	return p.notify(ctx, c, src)
}

// toManual lists the order ext as needing a person: a dead letter with
// reason, the pusher's last failure, a warning.
func (p *Pusher) toManual(ctx context.Context, ext, reason string) {
	p.count(func(s *Stats) { s.Manual++ })
	data, _ := json.Marshal(deadData{Ext: ext})
	p.dead.Add(ctx, pushers.DeadLetter{ID: ext, At: p.cfg.Now().UTC(), Reason: reason, Data: data})
	p.rec.Failure(ctx, p.cfg.Now(), ext+": "+reason)
	p.log.Warn("orders: needs manual handling", "order", ext, "reason", reason)
}

// notify tells the source the outcome and finishes the order.
func (p *Pusher) notify(ctx context.Context, c *claim, src Source) error {
	out := Outcome{Imported: c.h["state"] == stateCreated, ERPOrder: c.h["erp_order"], Reason: c.h["reason"]}
	if out.Imported {
		if err := p.indexShipper(ctx, c, src, out.ERPOrder); err != nil {
			return p.retry(ctx, c, fmt.Errorf("recording %s for its shipment: %w", out.ERPOrder, err))
		}
	}
	nctx, cancel := context.WithTimeout(ctx, max(p.cfg.Budget, 10*time.Second))
	err := src.Notify(nctx, c.h["source_id"], out)
	cancel()
	if err != nil {
		return p.retry(ctx, c, fmt.Errorf("telling %s: %w", src.Name(), err))
	}
	p.count(func(s *Stats) { s.Notified++ })
	final := stateImported
	if !out.Imported {
		final = stateHandled
	}
	ok, err := p.update(ctx, c, time.Time{}, p.cfg.Retention, "state", final, "notified_at", p.cfg.Now().UnixMilli(), "tries", 0)
	if err == nil && ok && out.Imported {
		p.rec.Success(ctx, p.cfg.Now())
	}
	return err
}

// retry schedules the order again after a backoff, or parks it when it
// failed MaxTries times in a row.
func (p *Pusher) retry(ctx context.Context, c *claim, cause error) error {
	tries, _ := strconv.Atoi(c.h["tries"])
	tries++
	why := clip.String(cause.Error(), clip.Message)
	p.rec.Failure(ctx, p.cfg.Now(), c.ext+": "+why)
	if tries >= p.cfg.MaxTries {
		ok, err := p.update(ctx, c, time.Time{}, 0, "tries", tries, "last_error", why, "parked", "1")
		if err == nil && ok {
			data, _ := json.Marshal(deadData{Ext: c.ext})
			p.dead.Add(ctx, pushers.DeadLetter{ID: c.ext, At: p.cfg.Now().UTC(), Reason: why, Data: data})
			p.log.Error("orders: parked after repeated failures", "order", c.ext, "err", why)
		}
		return err
	}
	due := p.cfg.Now().Add(pushers.Backoff(tries, p.cfg.RetryBase, p.cfg.RetryMax))
	_, err := p.update(ctx, c, due, 0, "tries", tries, "last_error", why)
	return err
}

// later schedules the order again when the ERP's budget frees (the
// error's RetryAfter, between RetryBase and RetryMax), without counting a
// try.
func (p *Pusher) later(ctx context.Context, c *claim, cause error) error {
	wait := p.cfg.RetryBase
	var ee *erp.Error
	if errors.As(cause, &ee) && ee.RetryAfter > wait {
		wait = min(ee.RetryAfter, p.cfg.RetryMax)
	}
	_, err := p.update(ctx, c, p.cfg.Now().Add(wait), 0, "last_error", cause.Error())
	return err
}

// deadData is the Data of an order's dead letter.
type deadData struct {
	Ext string `json:"ext"`
}

// replayScript puts a parked or manual order back on the queue. An order
// in "creating" stays so: it is looked up first.
var replayScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'manual' or st == 'handled' then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'reason', '')
end
redis.call('HSET', KEYS[1], 'tries', '0', 'parked', '0')
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
`)

// Replay re-drives every dead letter: manual orders are mapped and
// created again (a person fixed the cause), parked ones tried again.
func (p *Pusher) Replay(ctx context.Context) error {
	_, err := p.dead.Each(ctx, func(dl pushers.DeadLetter) error {
		var d deadData
		if json.Unmarshal(dl.Data, &d) != nil || d.Ext == "" {
			return nil
		}
		return replayScript.Run(ctx, p.rdb, []string{p.k.order(d.Ext), p.k.due()}, p.cfg.Now().UnixMilli(), d.Ext).Err()
	})
	select {
	case p.poke <- struct{}{}:
	default:
	}
	return err
}

// Status reports the orders waiting (recorded and not finished), the age
// of the one due longest, and the dead letters.
func (p *Pusher) Status(ctx context.Context) (pushers.Status, error) {
	st := pushers.Status{Name: p.Name()}
	pipe := p.rdb.Pipeline()
	n := pipe.ZCard(ctx, p.k.due())
	first := pipe.ZRangeWithScores(ctx, p.k.due(), 0, 0)
	dead := pipe.LLen(ctx, p.k.dead())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return st, err
	}
	st.Backlog, st.DeadLetters = n.Val(), dead.Val()
	if z := first.Val(); len(z) > 0 {
		st.OldestPending = max(p.cfg.Now().Sub(time.UnixMilli(int64(z[0].Score))), 0)
	}
	if st.DeadLetters > 0 {
		st.Recent, _ = p.dead.List(ctx, pushers.RecentDeadLetters)
	}
	if err := p.rec.Fill(ctx, &st); err != nil {
		return st, err
	}
	switch {
	case !p.running.Load():
		st.State = pushers.StateOff
	case st.Backlog > 0 && st.LastErrorAt.After(st.LastSuccess):
		st.State = pushers.StateFailing
	case st.Backlog > 0:
		st.State = pushers.StateRunning
	default:
		st.State = pushers.StateIdle
	}
	return st, nil
}

// State is one order as recorded (for tests and operators).
type State struct {
	Ext, Source, SourceID, State, ERPOrder, Reason string
	Creates                                        int
	Ship                                           string // "", "pending" or "done" (shipments.go)
}

// Lookup returns the recorded state of the order with ExternalOrderNumber
// ext; ok is false when none is recorded.
func (p *Pusher) Lookup(ctx context.Context, ext string) (State, bool, error) {
	h, err := p.rdb.HGetAll(ctx, p.k.order(ext)).Result()
	if err != nil || len(h) == 0 {
		return State{}, false, err
	}
	n, _ := strconv.Atoi(h["creates"])
	return State{Ext: ext, Source: h["source"], SourceID: h["source_id"], State: h["state"],
		ERPOrder: h["erp_order"], Reason: h["reason"], Creates: n, Ship: h["ship"]}, true, nil
}

// poll polls one source while this replica holds its lease.
func (p *Pusher) poll(ctx context.Context, src Poller) {
	lease := pushers.NewLease(p.rdb, p.k.lease(src.Name()), max(3*src.Every(), 30*time.Second))
	var tok int64
	defer func() {
		if tok != 0 {
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			lease.Release(rctx, tok)
			cancel()
		}
	}()
	for ctx.Err() == nil {
		got, err := lease.Acquire(ctx, tok)
		tok = got
		if err == nil && got != 0 {
			err = src.Poll(ctx, func(id string, payload []byte) error {
				_, err := p.record(ctx, src.Name(), id, payload, lease, tok)
				return err
			})
			if errors.Is(err, errFenced) {
				tok = 0
			}
			if err != nil && ctx.Err() == nil {
				p.rec.Failure(ctx, p.cfg.Now(), src.Name()+" poll: "+err.Error())
				p.log.Warn("orders: poll failed", "source", src.Name(), "err", err)
			}
		}
		pushers.Sleep(ctx, src.Every())
	}
}

// Sources names the configured sources.
func (p *Pusher) Sources() []string {
	out := make([]string, len(p.order))
	for i, s := range p.order {
		out[i] = s.Name()
	}
	return out
}
