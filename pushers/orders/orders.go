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
// The orders are items of the durable-work queue "orders" (pushers/work):
// workers on every replica claim due orders one at a time, each claim
// held by one worker under a fencing token and falling back to the others
// if that worker dies; every state change is a fenced Lua script, and
// retries, dead letters, replay and status are the queue's.
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
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/pushers/work"
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
	// RetryBase and RetryMax are the retry policy (retry.Policy) between
	// tries of one order; default 1s and 5m.
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
	q       *work.Queue
	log     *slog.Logger
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
	q := work.New(rdb, "orders", work.Config{
		Prefix: cfg.Prefix, Visibility: cfg.Visibility, RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax,
		MaxTries: cfg.MaxTries, Retention: cfg.Retention, Poll: cfg.Poll,
		DeadLetterRetention: cfg.DeadLetterRetention, Logger: cfg.Logger, Now: cfg.Now,
		// Replaying an order in manual handling maps and creates it again:
		// a person fixed the cause.
		Reopen: &work.Reopen{Field: "state", From: []string{stateManual, stateHandled},
			Set: []any{"state", statePending, "reason", ""}},
	})
	p := &Pusher{
		rdb: rdb, erp: e, sources: map[string]Source{}, cfg: cfg, q: q, log: cfg.Logger,
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
func (p *Pusher) DeadLetters() *pushers.DeadLetters { return p.q.DeadLetters() }

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
	fields := []any{"source", source, "source_id", id, "payload", string(payload), "state", statePending,
		"received_at", p.cfg.Now().UnixMilli(), "creates", 0}
	var added bool
	var err error
	if lease != nil {
		added, err = p.q.AddFenced(ctx, lease, tok, ext, time.Time{}, fields...)
	} else {
		added, err = p.q.Add(ctx, ext, time.Time{}, fields...)
	}
	switch {
	case errors.Is(err, work.ErrFenced):
		return false, err
	case err != nil:
		return false, fmt.Errorf("orders: record %s: %w", ext, err)
	case !added:
		p.count(func(s *Stats) { s.Duplicates++ })
		return false, nil
	}
	p.count(func(s *Stats) { s.Recorded++ })
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
	res, err := submitScript.Run(ctx, p.rdb, []string{p.q.ItemKey(ext), p.q.DueKey()},
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
		p.count(func(s *Stats) { s.Manual++ })
		p.q.Letter(ctx, reason, ext)
		p.log.Warn("orders: needs manual handling", "order", ext, "reason", reason)
	}
	p.q.Poke()
	st, _, err := p.Lookup(ctx, ext)
	return st, err
}

// Run works due orders with Workers goroutines and polls each Poller
// source under its lease, until ctx ends; it returns nil then.
func (p *Pusher) Run(ctx context.Context) error {
	ctx = erp.WithClass(ctx, erp.Background) // nobody waits on these ERP calls
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { p.q.Work(gctx, p.cfg.Workers, p.process); return nil })
	for _, s := range p.order {
		if pl, ok := s.(Poller); ok {
			g.Go(func() error { p.poll(gctx, pl); return nil })
		}
	}
	return g.Wait()
}

// process moves one claimed order as far as it can go.
func (p *Pusher) process(ctx context.Context, c *work.Claim) error {
	src, ok := p.sources[c.Fields["source"]]
	if !ok {
		// Recorded by a replica with another configuration: leave it for
		// one that knows the source, but not in a tight loop.
		_, err := c.Set(ctx, p.cfg.Now().Add(p.cfg.RetryMax), "last_error", "source not configured here")
		return err
	}
	switch c.Fields["state"] {
	case stateImported, stateHandled:
		if c.Fields["ship"] == shipPending {
			return p.ship(ctx, c, src)
		}
		_, err := c.Ack(ctx)
		return err
	case stateCreated, stateManual:
		return p.notify(ctx, c, src)
	case stateCreating:
		return p.resolve(ctx, c, src)
	}
	return p.create(ctx, c, src)
}

// resolve looks an order up after a create whose outcome is unknown.
func (p *Pusher) resolve(ctx context.Context, c *work.Claim, src Source) error {
	lctx, cancel := context.WithTimeout(ctx, p.cfg.Budget)
	h, found, err := p.erp.FindOrderByExternalNumber(lctx, c.ID)
	cancel()
	if err != nil {
		err = fmt.Errorf("look-up after an unclear create: %w", err)
		if errors.Is(err, erp.ErrThrottled) { // the budget is spent for now: no failure of the order's
			return p.later(ctx, c, err)
		}
		return c.Retry(ctx, err)
	}
	if found {
		p.count(func(s *Stats) { s.Found++ })
		p.log.Info("orders: found after an unclear create", "order", c.ID, "erp_order", h.OrderNumber)
		ok, err := c.Set(ctx, time.Time{}, "state", stateCreated, "erp_order", h.OrderNumber, "tries", 0)
		if err != nil || !ok {
			return err
		}
		c.Fields["state"], c.Fields["erp_order"] = stateCreated, h.OrderNumber
		return p.notify(ctx, c, src)
	}
	// Not there: nothing was created, a create may be sent.
	ok, err := c.Set(ctx, time.Time{}, "state", statePending)
	if err != nil || !ok {
		return err
	}
	return p.create(ctx, c, src)
}

// createMargin is time kept between the end of a create call and the end
// of the claim.
const createMargin = 2 * time.Second

// create maps the order and sends the create, the intent recorded first.
func (p *Pusher) create(ctx context.Context, c *work.Claim, src Source) error {
	no, err := src.Map(c.Fields["source_id"], []byte(c.Fields["payload"]))
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
			return c.Retry(ctx, err)
		}
	}
	no.ExternalOrderNumber = c.ID
	if p.cfg.Now().Add(p.cfg.Budget + createMargin).After(c.Until) {
		// Too little of the claim left to be sure no one else claims the
		// order while this create may be in flight: try again soon.
		_, err := c.Set(ctx, p.cfg.Now())
		return err
	}
	creates, _ := strconv.Atoi(c.Fields["creates"])
	ok, err := c.Set(ctx, time.Time{}, "state", stateCreating, "creates", creates+1,
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
		ok, err := c.Set(ctx, time.Time{}, "state", stateCreated, "erp_order", num, "tries", 0)
		if err != nil || !ok {
			return err // still "creating": the next claim finds it by look-up
		}
		c.Fields["state"], c.Fields["erp_order"] = stateCreated, num
		return p.notify(ctx, c, src)
	case errors.Is(err, erp.ErrValidation) || errors.Is(err, erp.ErrNotFound):
		// Extend refused the order: nothing was created.
		return p.manual(ctx, c, src, "Extend refused the order: "+err.Error())
	case errors.Is(err, erp.ErrThrottled):
		// The ERP's budget is spent for now (the guard kept the call back
		// for customers, or Extend answered 429): nothing was created, and
		// it is no failure of the order's. Again when the budget frees,
		// without counting a try.
		return p.later(ctx, c, err, "state", statePending)
	case errors.Is(err, erp.ErrUnauthorized):
		// Refused before anything was created: no look-up needed.
		return c.Retry(ctx, err, "state", statePending)
	}
	// Timeout, 5xx, a broken connection, an unreadable answer: it may have
	// been created. The state stays "creating": look up first next time.
	p.count(func(s *Stats) { s.Ambiguous++ })
	return c.Retry(ctx, fmt.Errorf("create outcome unknown: %w", err))
}

// manual sends an order to manual handling with reason, lists it as a
// dead letter (in the same script) and tells the source.
func (p *Pusher) manual(ctx context.Context, c *work.Claim, src Source, reason string) error {
	ok, err := c.Letter(ctx, reason, "state", stateManual, "reason", reason)
	if err != nil || !ok {
		return err
	}
	p.count(func(s *Stats) { s.Manual++ })
	p.log.Warn("orders: needs manual handling", "order", c.ID, "reason", reason)
	c.Fields["state"], c.Fields["reason"] = stateManual, reason
	return p.notify(ctx, c, src)
}

// notify tells the source the outcome and finishes the order.
func (p *Pusher) notify(ctx context.Context, c *work.Claim, src Source) error {
	out := Outcome{Imported: c.Fields["state"] == stateCreated, ERPOrder: c.Fields["erp_order"], Reason: c.Fields["reason"]}
	if out.Imported {
		if err := p.indexShipper(ctx, c, src, out.ERPOrder); err != nil {
			return c.Retry(ctx, fmt.Errorf("recording %s for its shipment: %w", out.ERPOrder, err))
		}
	}
	nctx, cancel := context.WithTimeout(ctx, max(p.cfg.Budget, 10*time.Second))
	err := src.Notify(nctx, c.Fields["source_id"], out)
	cancel()
	if err != nil {
		return c.Retry(ctx, fmt.Errorf("telling %s: %w", src.Name(), err))
	}
	p.count(func(s *Stats) { s.Notified++ })
	final := stateImported
	if !out.Imported {
		final = stateHandled
	}
	ok, err := c.Ack(ctx, "state", final, "notified_at", p.cfg.Now().UnixMilli())
	if err == nil && ok && out.Imported {
		p.q.Success(ctx)
	}
	return err
}

// later schedules the order again when the ERP's budget frees (the
// error's RetryAfter, between RetryBase and RetryMax), without counting a
// try.
func (p *Pusher) later(ctx context.Context, c *work.Claim, cause error, fields ...any) error {
	var wait time.Duration
	var ee *erp.Error
	if errors.As(cause, &ee) {
		wait = ee.RetryAfter
	}
	return c.Later(ctx, wait, cause, fields...)
}

// Replay re-drives every dead letter: manual orders are mapped and
// created again (a person fixed the cause), parked ones tried again. An
// order in "creating" stays so: it is looked up first.
func (p *Pusher) Replay(ctx context.Context) error {
	_, err := p.q.Replay(ctx)
	return err
}

// Status reports the orders waiting (recorded and not finished), the age
// of the one due longest, and the dead letters.
func (p *Pusher) Status(ctx context.Context) (pushers.Status, error) {
	return p.q.Status(ctx)
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
	h, err := p.rdb.HGetAll(ctx, p.q.ItemKey(ext)).Result()
	if err != nil || len(h) == 0 {
		return State{}, false, err
	}
	n, _ := strconv.Atoi(h["creates"])
	return State{Ext: ext, Source: h["source"], SourceID: h["source_id"], State: h["state"],
		ERPOrder: h["erp_order"], Reason: h["reason"], Creates: n, Ship: h["ship"]}, true, nil
}

// poll polls one source while this replica holds its lease.
func (p *Pusher) poll(ctx context.Context, src Poller) {
	lease := p.q.Lease(src.Name(), max(3*src.Every(), 30*time.Second))
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
			if errors.Is(err, work.ErrFenced) {
				tok = 0
			}
			if err != nil && ctx.Err() == nil {
				p.q.Failure(ctx, src.Name()+" poll: "+err.Error())
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
