package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/pushers/work"
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
	// Intake, when set, is the intake of this process: the consumer then
	// shares its queue handle, and a delivery it records wakes a worker
	// at once instead of at the next Poll.
	Intake *Intake
	// Picks, when set, is told of every OrderPicked before the order is
	// refreshed.
	Picks Picks
	// Workers is how many deliveries are applied at once; default 4.
	Workers int
	// ReclaimAfter is how long a delivery stays claimed by one worker: a
	// replica that died holding it leaves it to another after this. It is
	// also the first wait before a failed one is tried again (doubling
	// with jitter up to 8×, the retry package's policy); default 15s.
	ReclaimAfter time.Duration
	// MaxAttempts is how often applying a delivery may fail before it is
	// parked as a dead letter; default 10.
	MaxAttempts int
	// Budget bounds one notification's ERP work; default 10s.
	Budget time.Duration
	// Poll is how often an idle worker looks for deliveries recorded by
	// another replica; default 500ms.
	Poll time.Duration
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
	q        *work.Queue
	log      *slog.Logger
	now      func() time.Time
}

// NewConsumer returns a consumer applying notifications through ref and
// handing balance events to balances (nil: balance events only refresh
// the stock answer).
func NewConsumer(rdb redis.UniversalClient, ref Refresher, balances Balances, o ConsumerOptions) *Consumer {
	o.defaults()
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	q := work.New(rdb, queueName, work.Config{
		Prefix: o.Prefix, Retention: o.DedupeTTL, Visibility: o.ReclaimAfter,
		RetryBase: o.ReclaimAfter, RetryMax: 8 * o.ReclaimAfter, MaxTries: o.MaxAttempts, Poll: o.Poll,
		DeadLetterRetention: o.DeadLetterRetention, Logger: o.Logger,
	})
	if o.Intake != nil {
		o.Intake.wake.Store(&wakeFunc{q.Poke})
	}
	return &Consumer{rdb: rdb, ref: ref, balances: balances, o: o, q: q, log: o.Logger, now: time.Now}
}

// Name is "webhooks", its name in /admin/pushers.
func (c *Consumer) Name() string { return "webhooks" }

// DeadLetters is the notifications that failed too often.
func (c *Consumer) DeadLetters() *pushers.DeadLetters { return c.q.DeadLetters() }

// The admin API pages through the webhooks' dead letters.
var _ pushers.Parker = (*Consumer)(nil)

// Run applies recorded deliveries with Workers goroutines until ctx ends;
// it returns nil then. A delivery a replica held when it died is taken
// over by another once ReclaimAfter passed.
func (c *Consumer) Run(ctx context.Context) error {
	for {
		err := c.drainLegacy(ctx)
		if err == nil {
			break
		}
		c.log.Warn("webhooks: cannot move the deliveries of the earlier release; retrying", "err", err)
		if !pushers.Sleep(ctx, 2*time.Second) {
			return nil
		}
	}
	c.q.Work(ctx, c.o.Workers, c.process)
	return nil
}

// errNotLegacy stops drainLegacy's pass over the dead letters at the
// first one this release wrote.
var errNotLegacy = errors.New("webhook: not a dead letter of the earlier release")

// drainLegacy moves what a release before the queue left in Redis into the
// queue, once, at the first start after an upgrade: the deliveries still
// in its stream (recorded, answered 2xx, not yet applied), and its dead
// letters ({"n","body"}), which are tried once more. Adding is idempotent,
// so replicas starting together do no harm.
func (c *Consumer) drainLegacy(ctx context.Context) error {
	stream := c.o.Prefix + "{wh}:stream"
	if n, err := c.rdb.Exists(ctx, stream).Result(); err != nil || n == 0 {
		return err
	}
	now := c.now().UnixMilli()
	_, err := c.q.DeadLetters().Each(ctx, func(dl pushers.DeadLetter) error {
		var e struct{ N, Body string }
		if json.Unmarshal(dl.Data, &e) != nil || e.N == "" {
			return errNotLegacy
		}
		_, err := c.q.Add(ctx, hashKey(e.N), time.Time{}, "n", e.N, "body", e.Body, "at", now)
		return err
	})
	if err != nil && !errors.Is(err, errNotLegacy) {
		return err
	}
	moved := 0
	for {
		msgs, err := c.rdb.XRangeN(ctx, stream, "-", "+", 100).Result()
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			break
		}
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
			n, _ := m.Values["n"].(string)
			body, _ := m.Values["body"].(string)
			if n == "" {
				continue
			}
			if _, err := c.q.Add(ctx, hashKey(n), time.Time{}, "n", n, "body", body, "at", now); err != nil {
				return err
			}
			moved++
		}
		if err := c.rdb.XDel(ctx, stream, ids...).Err(); err != nil {
			return err
		}
	}
	c.log.Info("webhooks: moved the deliveries of the earlier release to the queue", "deliveries", moved)
	return c.rdb.Del(ctx, stream, c.o.Prefix+"{wh}:attempts", c.o.Prefix+"{wh}:stats").Err()
}

// process applies one claimed delivery and acknowledges it, or schedules
// it again, or parks it as a dead letter. The acknowledgement is fenced
// by the claim: a notification is acknowledged (and counted applied) once.
func (c *Consumer) process(ctx context.Context, cl *work.Claim) error {
	n, body := cl.Fields["n"], cl.Fields["body"]
	d, err := parseDelivery([]byte(body))
	if err != nil {
		c.o.Observer.Webhook(SourceExtend, actionNone, OutcomeDead)
		return cl.Park(ctx, err.Error())
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
		ok, err := cl.Ack(ctx)
		if err == nil && ok {
			c.q.Success(ctx)
		}
		return err
	}
	if cl.Tries()+1 >= c.o.MaxAttempts {
		c.o.Observer.Webhook(SourceExtend, actionNone, OutcomeDead)
	} else {
		c.log.Warn("webhooks: applying failed; will retry", "notification", n, "attempt", cl.Tries()+1, "err", failed)
	}
	return cl.Retry(ctx, failed)
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

// Replay puts every dead letter back to work (it is then applied like a
// new delivery).
func (c *Consumer) Replay(ctx context.Context) error {
	_, err := c.q.Replay(ctx)
	return err
}

// Status reports the deliveries waiting (recorded and not yet applied),
// the age of the one waiting longest, and the dead letters.
func (c *Consumer) Status(ctx context.Context) (pushers.Status, error) {
	st, err := c.q.Status(ctx)
	st.Name = c.Name()
	return st, err
}

// Applied reports how many deliveries took effect, and how many were
// recognised as redeliveries of one recorded before, since the queue
// began (tests and operators read them).
func (c *Consumer) Applied(ctx context.Context) (applied, duplicate int64, err error) {
	return c.q.Counts(ctx)
}
