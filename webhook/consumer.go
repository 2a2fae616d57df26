package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers"
)

// Refresher refreshes what a notification names; *pull.Service has it.
type Refresher interface {
	// OrderChanged makes the answers that show the order fresh on their
	// next read; created: the order is new (OrderCreated).
	// erp.ErrNotFound: the ERP has no such order.
	OrderChanged(ctx context.Context, orderNumber string, created bool) error
	// InvoiceChanged is OrderChanged for an invoice
	// (CustomerInvoiceCreated).
	InvoiceChanged(ctx context.Context, invoiceNumber string, created bool) error
	// StockChanged renews the cached stock of the product.
	StockChanged(ctx context.Context, productNumber string) error
	// FlushCustomer makes the customer's answers fresh.
	FlushCustomer(ctx context.Context, customerNo string) (int, error)
}

// Balances takes balance events; the stock pusher has it.
type Balances interface {
	BalanceChanged(ctx context.Context, productNumber, warehouse string) error
}

// Picks takes OrderPicked events; the order pusher has it (an order of a
// shop that wants to hear of its shipment is queued for that).
type Picks interface {
	// OrderPicked records the event durably or fails; it makes no ERP call.
	OrderPicked(ctx context.Context, orderNumber string) error
}

// ConsumerOptions configure a Consumer beyond Options.
type ConsumerOptions struct {
	Options
	// Picks, when set, is told of every OrderPicked before the order is
	// refreshed.
	Picks Picks
	// Group is the consumer group every replica joins; default "gateway".
	Group string
	// Name identifies this process in the group; default host-pid-random.
	Name string
	// Workers is how many entries are applied at once; default 4.
	Workers int
	// ReclaimAfter is how long an entry may stay unacknowledged with its
	// consumer before another takes it over (XAUTOCLAIM), and how long a
	// failed one waits before it is tried again; default 15s.
	ReclaimAfter time.Duration
	// MaxAttempts is how often applying an entry may fail before it is
	// parked as a dead letter; default 10.
	MaxAttempts int
	// Budget bounds one notification's ERP work; default 10s.
	Budget time.Duration
	// Block is how long one XREADGROUP waits for new entries; default 1s.
	Block time.Duration
	// DeadLetterRetention is how long a dead letter is kept
	// (DEAD_LETTER_RETENTION); default pushers.DefaultDeadLetterRetention.
	DeadLetterRetention time.Duration
	Logger              *slog.Logger
}

// Consumer applies recorded deliveries. Run it on every replica.
type Consumer struct {
	rdb      redis.UniversalClient
	ref      Refresher
	balances Balances
	o        ConsumerOptions
	k        keys
	rec      *pushers.Recorder
	dead     *pushers.DeadLetters
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	running bool
}

// NewConsumer returns a consumer applying notifications through ref and
// handing balance events to balances (nil: balance events only refresh
// the stock answer).
func NewConsumer(rdb redis.UniversalClient, ref Refresher, balances Balances, o ConsumerOptions) *Consumer {
	o.defaults()
	if o.Group == "" {
		o.Group = "gateway"
	}
	if o.Name == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		o.Name = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.ReclaimAfter <= 0 {
		o.ReclaimAfter = 15 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Budget <= 0 {
		o.Budget = 10 * time.Second
	}
	if o.Block <= 0 {
		o.Block = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	k := keys{o.Prefix}
	return &Consumer{
		rdb: rdb, ref: ref, balances: balances, o: o, k: k,
		rec:  pushers.NewRecorder(rdb, k.status()),
		dead: pushers.NewDeadLetters(rdb, k.dead(), o.DeadLetterRetention),
		log:  o.Logger, now: time.Now,
	}
}

// Name is "webhooks", its name in /admin/pushers.
func (c *Consumer) Name() string { return "webhooks" }

// DeadLetters is the notifications that failed too often.
func (c *Consumer) DeadLetters() *pushers.DeadLetters { return c.dead }

// The admin API pages through the webhooks' dead letters.
var _ pushers.Parker = (*Consumer)(nil)

// Run joins the consumer group and applies entries with Workers
// goroutines until ctx ends. Each worker reads new entries and, every
// ReclaimAfter/2, takes over entries idle longer than ReclaimAfter (those
// of a crashed replica, and its own that failed). It returns nil when ctx
// ends.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()
	for {
		err := c.rdb.XGroupCreateMkStream(ctx, c.k.stream(), c.o.Group, "0").Err()
		if err == nil || strings.Contains(err.Error(), "BUSYGROUP") {
			break
		}
		c.log.Warn("webhooks: cannot create the consumer group; retrying", "err", err)
		if !pushers.Sleep(ctx, 2*time.Second) {
			return nil
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range c.o.Workers {
		name := c.o.Name + "-" + strconv.Itoa(i)
		g.Go(func() error { c.work(gctx, name, i == 0); return nil })
	}
	return g.Wait()
}

// work is one worker's loop.
func (c *Consumer) work(ctx context.Context, name string, tidy bool) {
	nextReclaim := time.Time{}
	failures := 0
	for ctx.Err() == nil {
		if now := time.Now(); !now.Before(nextReclaim) {
			nextReclaim = now.Add(c.o.ReclaimAfter / 2)
			if err := c.reclaim(ctx, name); err != nil && ctx.Err() == nil {
				c.log.Warn("webhooks: reclaim failed", "err", err)
			}
			if tidy {
				c.tidy(ctx)
			}
		}
		res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.o.Group, Consumer: name, Streams: []string{c.k.stream(), ">"},
			Count: 8, Block: c.o.Block,
		}).Result()
		if err != nil {
			if errors.Is(err, redis.Nil) || ctx.Err() != nil {
				continue
			}
			if strings.Contains(err.Error(), "NOGROUP") {
				// The stream was deleted (an operator, or a test): join again.
				c.rdb.XGroupCreateMkStream(ctx, c.k.stream(), c.o.Group, "0")
			}
			failures++
			c.log.Warn("webhooks: read failed", "err", err)
			pushers.Sleep(ctx, pushers.Backoff(failures, 100*time.Millisecond, 5*time.Second))
			continue
		}
		failures = 0
		for _, s := range res {
			for _, m := range s.Messages {
				c.process(ctx, m)
			}
		}
	}
}

// reclaim takes over entries idle for ReclaimAfter and processes them.
func (c *Consumer) reclaim(ctx context.Context, name string) error {
	start := "0-0"
	for range 100 { // bounded: at most 100 × 16 entries per round
		msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: c.k.stream(), Group: c.o.Group, Consumer: name,
			MinIdle: c.o.ReclaimAfter, Start: start, Count: 16,
		}).Result()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			c.process(ctx, m)
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
	return nil
}

// tidy removes consumers of the group that have nothing pending and have
// been idle for a day (replicas that are gone).
func (c *Consumer) tidy(ctx context.Context) {
	cs, err := c.rdb.XInfoConsumers(ctx, c.k.stream(), c.o.Group).Result()
	if err != nil {
		return
	}
	for _, x := range cs {
		if x.Pending == 0 && x.Idle > 24*time.Hour && !strings.HasPrefix(x.Name, c.o.Name) {
			c.rdb.XGroupDelConsumer(ctx, c.k.stream(), c.o.Group, x.Name)
		}
	}
}

// ackScript marks a notification applied and removes its entry, together.
// KEYS: applied, stream, attempts, stats. ARGV: group, entry id, ttl ms.
var ackScript = redis.NewScript(`
local first = redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3])
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
if first then
  redis.call('HINCRBY', KEYS[4], 'applied', 1)
  return 1
end
redis.call('HINCRBY', KEYS[4], 'duplicate', 1)
return 0
`)

// process applies one entry and acknowledges it, or leaves it pending for
// a later attempt, or parks it as a dead letter.
func (c *Consumer) process(ctx context.Context, m redis.XMessage) {
	n, _ := m.Values["n"].(string)
	body, _ := m.Values["body"].(string)
	if n == "" {
		c.ack(ctx, m.ID, "~"+m.ID) // not ours; drop it
		return
	}
	done, err := c.rdb.Exists(ctx, c.k.applied(n)).Result()
	if err != nil {
		return // Redis trouble: the entry stays pending and is reclaimed
	}
	if done == 1 {
		c.o.Observer.Webhook(SourceExtend, actionNone, OutcomeDuplicate)
		c.ack(ctx, m.ID, n)
		return
	}
	d, err := parseDelivery([]byte(body))
	if err != nil {
		c.park(ctx, m, n, body, err)
		return
	}
	var failed error
	for _, nt := range d.Notifications {
		outcome, err := c.apply(ctx, nt)
		c.o.Observer.Webhook(SourceExtend, actionLabel(nt.Action), outcome)
		if err != nil && outcome == OutcomeRetry {
			failed = err
		}
	}
	if failed == nil {
		if c.ack(ctx, m.ID, n) {
			c.rec.Success(ctx, c.now())
		}
		return
	}
	c.rec.Failure(ctx, c.now(), failed.Error())
	attempts, err := c.rdb.HIncrBy(ctx, c.k.attempts(), m.ID, 1).Result()
	if err == nil && attempts >= int64(c.o.MaxAttempts) {
		c.park(ctx, m, n, body, failed)
		return
	}
	c.log.Warn("webhooks: applying failed; will retry", "notification", n, "attempt", attempts, "err", failed)
}

// ack runs ackScript; it reports whether the ack was written.
func (c *Consumer) ack(ctx context.Context, id, n string) bool {
	err := ackScript.Run(ctx, c.rdb, []string{c.k.applied(n), c.k.stream(), c.k.attempts(), c.k.stats()},
		c.o.Group, id, c.o.DedupeTTL.Milliseconds()).Err()
	if err != nil {
		c.log.Warn("webhooks: acknowledging failed; the entry will be reclaimed", "err", err)
		return false
	}
	return true
}

// park moves an entry to the dead letters: first the letter, then the
// acknowledgement (without marking it applied), so a crash in between
// leaves a copy in both rather than in neither.
func (c *Consumer) park(ctx context.Context, m redis.XMessage, n, body string, why error) {
	data, _ := json.Marshal(deadEntry{N: n, Body: body})
	err := c.dead.Add(ctx, pushers.DeadLetter{ID: n, At: c.now().UTC(), Reason: why.Error(), Data: data})
	if err != nil {
		return
	}
	c.o.Observer.Webhook(SourceExtend, actionNone, OutcomeDead)
	c.log.Error("webhooks: notification parked as a dead letter", "notification", n, "err", why)
	pipe := c.rdb.TxPipeline()
	pipe.XAck(ctx, c.k.stream(), c.o.Group, m.ID)
	pipe.XDel(ctx, c.k.stream(), m.ID)
	pipe.HDel(ctx, c.k.attempts(), m.ID)
	pipe.Exec(ctx)
}

// deadEntry is the Data of a webhook dead letter.
type deadEntry struct {
	N    string `json:"n"`
	Body string `json:"body"`
}

// details of the actions we apply; numbers may be strings ("5 324").
type details struct {
	OrderNumber    string `json:"OrderNumber"`
	InvoiceNumber  string `json:"InvoiceNumber"`
	ProductNumber  string `json:"ProductNumber"`
	Warehouse      string `json:"Warehouse"`
	CustomerNumber string `json:"CustomerNumber"`
}

// errDetails is a notification whose Details lack what its Action needs.
var errDetails = errors.New("webhook: details incomplete")

// apply carries out one notification and names its outcome. A record the
// ERP does not have (or refuses to show) is ignored, not retried.
func (c *Consumer) apply(ctx context.Context, nt Notification) (string, error) {
	var d details
	if len(nt.Details) > 0 && string(nt.Details) != "null" {
		if err := json.Unmarshal(nt.Details, &d); err != nil {
			return OutcomeIgnored, fmt.Errorf("%w: %v", errDetails, shortJSONError(err))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Budget)
	defer cancel()
	// Somebody is served already; the answers get fresher: the ERP's
	// budget goes to callers who wait first.
	ctx = erp.WithClass(ctx, erp.Refresh)
	if nt.Action == "OrderPicked" && c.o.Picks != nil && d.OrderNumber != "" {
		if err := c.o.Picks.OrderPicked(ctx, d.OrderNumber); err != nil {
			return OutcomeRetry, err
		}
	}
	if c.ref == nil {
		return OutcomeIgnored, nil
	}
	var err error
	switch nt.Action {
	case "OrderCreated", "OrderReserved", "OrderPicked", "OrderCancelled", "OrderDeliveryDataChanged":
		if d.OrderNumber == "" {
			return OutcomeIgnored, errDetails
		}
		err = c.ref.OrderChanged(ctx, d.OrderNumber, nt.Action == "OrderCreated")
	case "CustomerInvoiceCreated", "CustomerInvoiceChanged":
		if d.InvoiceNumber == "" {
			return OutcomeIgnored, errDetails
		}
		err = c.ref.InvoiceChanged(ctx, d.InvoiceNumber, nt.Action == "CustomerInvoiceCreated")
	case "AvailableBalanceChanged", "BalanceChanged":
		if d.ProductNumber == "" {
			return OutcomeIgnored, errDetails
		}
		if c.balances != nil {
			err = c.balances.BalanceChanged(ctx, d.ProductNumber, d.Warehouse)
		}
		if err == nil {
			err = c.ref.StockChanged(ctx, d.ProductNumber)
		}
	case "CustomerChanged":
		if d.CustomerNumber == "" {
			return OutcomeIgnored, nil
		}
		_, err = c.ref.FlushCustomer(ctx, d.CustomerNumber)
	default:
		return OutcomeIgnored, nil
	}
	switch {
	case err == nil:
		return OutcomeApplied, nil
	case errors.Is(err, erp.ErrNotFound), errors.Is(err, erp.ErrValidation):
		return OutcomeIgnored, err
	}
	return OutcomeRetry, err
}

// Replay puts every dead letter back into the stream (it is then applied
// like a new delivery).
func (c *Consumer) Replay(ctx context.Context) error {
	_, err := c.dead.Each(ctx, func(dl pushers.DeadLetter) error {
		var e deadEntry
		if err := json.Unmarshal(dl.Data, &e); err != nil || e.N == "" {
			return nil // unreadable: dropped
		}
		return c.rdb.XAdd(ctx, &redis.XAddArgs{Stream: c.k.stream(),
			Values: []any{"n", e.N, "body", e.Body, "at", c.now().UnixMilli()}}).Err()
	})
	return err
}

// Status reports the stream's backlog (entries not yet acknowledged), the
// age of its oldest entry, and the dead letters.
func (c *Consumer) Status(ctx context.Context) (pushers.Status, error) {
	st := pushers.Status{Name: c.Name()}
	pipe := c.rdb.Pipeline()
	xlen := pipe.XLen(ctx, c.k.stream())
	first := pipe.XRangeN(ctx, c.k.stream(), "-", "+", 1)
	dead := pipe.LLen(ctx, c.k.dead())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return st, err
	}
	st.Backlog, st.DeadLetters = xlen.Val(), dead.Val()
	if msgs := first.Val(); len(msgs) > 0 {
		st.OldestPending = ageOf(msgs[0].ID, c.now())
	}
	if st.DeadLetters > 0 {
		st.Recent, _ = c.dead.List(ctx, pushers.RecentDeadLetters)
	}
	if err := c.rec.Fill(ctx, &st); err != nil {
		return st, err
	}
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	st.State = stateOf(running, st)
	return st, nil
}

// ageOf is how old a stream entry id ("<ms>-<seq>") is at now.
func ageOf(id string, now time.Time) time.Duration {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return 0
	}
	return max(now.Sub(time.UnixMilli(n)), 0)
}

// stateOf derives a state: failing when the last error is newer than the
// last success, running with a backlog, idle without.
func stateOf(running bool, st pushers.Status) string {
	switch {
	case !running:
		return pushers.StateOff
	case st.LastErrorAt.After(st.LastSuccess) && st.Backlog > 0:
		return pushers.StateFailing
	case st.Backlog > 0:
		return pushers.StateRunning
	}
	return pushers.StateIdle
}

// Applied reports how many notifications took effect, and how many were
// acknowledged as already applied, since the stream was created (tests
// and operators read it).
func (c *Consumer) Applied(ctx context.Context) (applied, duplicate int64, err error) {
	m, err := c.rdb.HGetAll(ctx, c.k.stats()).Result()
	if err != nil {
		return 0, 0, err
	}
	applied, _ = strconv.ParseInt(m["applied"], 10, 64)
	duplicate, _ = strconv.ParseInt(m["duplicate"], 10, 64)
	return applied, duplicate, nil
}
