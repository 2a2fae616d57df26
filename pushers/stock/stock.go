// Package stock is the stock pusher: it moves available balances from
// Extend Commerce to the shop.
//
// Work arrives as products marked "dirty", items of the durable-work queue
// "stock" (pushers/work): by balance
// webhooks (BalanceChanged), by a periodic sweep of ProductAvailability
// changed since a watermark kept in Redis (which heals lost webhooks), and
// by a full sweep on demand (Replay). Marking is coalescing: a product
// changed a hundred times before the next batch is pushed once, and since
// its balances are fetched from the ERP when its batch is built, the last
// change always wins.
//
// One replica at a time pushes (a lease with a fencing token). A batch of
// at most BatchSize products is claimed together under one token, in one
// Lua script that checks the lease, fetched, and pushed to every sink,
// each paced by its own rate limiter and retried by the one retry policy;
// a sink that keeps failing gets the batch parked as a dead letter, which
// Replay puts back. A product marked again while its batch is in flight
// is due again once the batch is acknowledged; the claims of a replica
// that died are taken back by the next lease holder. Products whose balances equal what was last
// pushed to every sink are skipped, so a sweep with an overlapping window
// costs ERP reads, not shop writes.
package stock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/pushers/work"
	"github.com/vendre-extend/gateway/retry"
)

// DefaultBatchSize is the most products one push carries (RetailCRM's
// limit, and the contract's).
const DefaultBatchSize = 250

// ErrRejected is wrapped by a sink's error when the shop refused the batch
// in a way a retry cannot fix (a 4xx other than 429): it is parked at once.
var ErrRejected = errors.New("stock: rejected by the shop")

// ERP is what the pusher needs of Extend Commerce; *erp.Client has it.
type ERP interface {
	ProductAvailability(ctx context.Context, productNumbers []string, warehouse string, changedSince time.Time, page, pageSize int) (erp.Page[erp.Availability], error)
}

// Level is a product's available balance in one warehouse, a whole number
// >= 0 (an oversold, negative balance is shown as 0).
type Level struct {
	Warehouse string
	Available int64
	ChangedAt time.Time
}

// Item is one product's stock in every counted warehouse.
type Item struct {
	Product string
	Levels  []Level // sorted by warehouse
}

// Total is the sum over the item's warehouses.
func (it Item) Total() int64 {
	var n int64
	for _, l := range it.Levels {
		n += l.Available
	}
	return n
}

// signature is what "unchanged since last push" compares.
func (it Item) signature() string {
	var b strings.Builder
	for _, l := range it.Levels {
		b.WriteString(l.Warehouse)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(l.Available, 10))
		b.WriteByte(';')
	}
	return b.String()
}

// Batch is what one push carries: at most BatchSize products.
type Batch struct {
	Items []Item
}

// Report is what a sink learned besides success.
type Report struct {
	// NotFound lists products the shop does not know (reported, not
	// retried).
	NotFound []string
}

// Sink is one destination of stock: a shop or a file drop.
type Sink interface {
	// Name is the sink's name in STOCK_SINKS.
	Name() string
	// Push sends b. An error wrapping ErrRejected is not retried.
	Push(ctx context.Context, b Batch) (Report, error)
}

// rated is what a Sink may also have: the most pushes a second it allows.
type rated interface {
	Rate() rate.Limit
}

// The sinks that are rate limited: without Rate, a sink would silently be
// pushed to as fast as batches come.
var (
	_ rated = (*FileSink)(nil)
	_ rated = (*RetailCRM)(nil)
	_ rated = (*Webhook)(nil)
)

// Config configures a Pusher. Zero values take the defaults named.
type Config struct {
	// Prefix of every Redis key; "gwq:" when "".
	Prefix string
	// SweepEvery is the period of the ProductAvailability sweep
	// (STOCK_SWEEP_EVERY); default 5m.
	SweepEvery time.Duration
	// Overlap is how far before the watermark each sweep starts, against
	// clock skew and changes committed late; default 1m.
	Overlap time.Duration
	// Warehouses count towards the shop's stock (STOCK_WAREHOUSES); empty
	// means all.
	Warehouses []string
	// BatchSize is the most products a push carries; default (and at
	// most) DefaultBatchSize.
	BatchSize int
	// MaxAttempts is how often a batch is tried on one sink before it is
	// parked; default 5.
	MaxAttempts int
	// RetryBase and RetryMax are the retry policy between attempts
	// (retry.Policy); default 500ms and 30s.
	RetryBase, RetryMax time.Duration
	// Poll is how often the dirty set is looked at when idle; default 1s.
	Poll time.Duration
	// LeaseTTL is how long the pushing replica's lease lasts unrenewed;
	// default 30s.
	LeaseTTL time.Duration
	// Budget bounds the ERP reads of one batch or one sweep page;
	// default 10s.
	Budget time.Duration
	// DeadLetterRetention is how long a dead letter is kept
	// (DEAD_LETTER_RETENTION); default pushers.DefaultDeadLetterRetention.
	DeadLetterRetention time.Duration
	Logger              *slog.Logger
	Now                 func() time.Time
}

// Pusher pushes stock to its sinks. Run it on every replica; one pushes.
type Pusher struct {
	rdb   redis.UniversalClient
	erp   ERP
	sinks []Sink
	lims  []*rate.Limiter
	cfg   Config
	k     keys
	lease *pushers.Lease
	q     *work.Queue
	log   *slog.Logger
	wh    map[string]bool // counted warehouses; nil: all

	poke    chan struct{}
	state   atomic.Value // string
	statsMu sync.Mutex
	stats   Stats
}

// Stats counts the pusher's work in this process.
type Stats struct {
	Sweeps           int64 // sweeps done
	Batches          int64 // batches pushed (to every sink)
	Pushed           int64 // products pushed
	Skipped          int64 // products skipped as unchanged
	LastSweepBatches int64 // batches the last sweep's backlog took
	NotFound         int64 // products a sink reported unknown
}

type keys struct{ p string }

// dirty and inflight are where a release before the queue kept marks.
func (k keys) dirty() string     { return k.p + "{stock}:dirty" }
func (k keys) inflight() string  { return k.p + "{stock}:inflight" }
func (k keys) pushed() string    { return k.p + "{stock}:pushed" }
func (k keys) watermark() string { return k.p + "{stock}:watermark" }
func (k keys) swept() string     { return k.p + "{stock}:swept" }
func (k keys) full() string      { return k.p + "{stock}:full" }
func (k keys) lease() string     { return k.p + "{stock}:lease" }
func (k keys) notFound() string  { return k.p + "{stock}:notfound" }

// SeqKey is the key of the counter the vendre-file sink numbers its files
// with (see RedisSeq).
func SeqKey(prefix string) string {
	if prefix == "" {
		prefix = "gwq:"
	}
	return prefix + "{stock}:fileseq"
}

// New returns a pusher reading balances from e and pushing to sinks.
func New(rdb redis.UniversalClient, e ERP, sinks []Sink, cfg Config) *Pusher {
	if cfg.Prefix == "" {
		cfg.Prefix = "gwq:"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.SweepEvery, 5*time.Minute)
	def(&cfg.Overlap, time.Minute)
	def(&cfg.RetryBase, 500*time.Millisecond)
	def(&cfg.RetryMax, 30*time.Second)
	def(&cfg.Poll, time.Second)
	def(&cfg.LeaseTTL, 30*time.Second)
	def(&cfg.Budget, 10*time.Second)
	if cfg.BatchSize <= 0 || cfg.BatchSize > DefaultBatchSize {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := keys{cfg.Prefix}
	p := &Pusher{
		rdb: rdb, erp: e, sinks: sinks, cfg: cfg, k: k,
		lease: pushers.NewLease(rdb, k.lease(), cfg.LeaseTTL),
		// Marks coalesce, and a pushed product is forgotten; only the
		// lease holder claims, and a new holder takes back the claims
		// of the last (Release), so Visibility is only a backstop.
		q: work.New(rdb, "stock", work.Config{Prefix: cfg.Prefix, Coalesce: true,
			Visibility: 10 * time.Minute, DeadLetterRetention: cfg.DeadLetterRetention,
			Logger: cfg.Logger, Now: cfg.Now}),
		log:  cfg.Logger,
		poke: make(chan struct{}, 1),
	}
	for _, s := range sinks {
		lim := rate.Inf
		if r, ok := s.(rated); ok {
			lim = r.Rate()
		}
		p.lims = append(p.lims, rate.NewLimiter(lim, 1))
	}
	if len(cfg.Warehouses) > 0 {
		p.wh = map[string]bool{}
		for _, w := range cfg.Warehouses {
			p.wh[w] = true
		}
	}
	p.state.Store(pushers.StateOff)
	return p
}

// Name is "stock".
func (p *Pusher) Name() string { return "stock" }

// DeadLetters is the batches that a sink kept refusing.
func (p *Pusher) DeadLetters() *pushers.DeadLetters { return p.q.DeadLetters() }

// The admin API pages through the stock's dead letters.
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

// BalanceChanged marks product dirty (a balance webhook); warehouse is
// not needed: all the product's warehouses are fetched when it is pushed.
func (p *Pusher) BalanceChanged(ctx context.Context, product, warehouse string) error {
	if product == "" {
		return nil
	}
	if _, err := p.q.Add(ctx, product, time.Time{}); err != nil {
		return fmt.Errorf("stock: mark %s: %w", product, err)
	}
	select {
	case p.poke <- struct{}{}:
	default:
	}
	return nil
}

// SweepAll asks for a full sweep: every product is marked and pushed
// again to every sink, whatever was pushed before (RetailCRM's
// inventoriesUpload callback). It returns once the request is in Redis;
// the replica holding the lease does the sweep within a Poll. Requests
// made before that sweep starts are one sweep.
func (p *Pusher) SweepAll(ctx context.Context) error {
	if err := p.rdb.Set(ctx, p.k.full(), "1", 0).Err(); err != nil {
		return fmt.Errorf("stock: full sweep: %w", err)
	}
	select {
	case p.poke <- struct{}{}:
	default:
	}
	return nil
}

// Replay asks for a full sweep (SweepAll) and puts every dead letter's
// products back to work.
func (p *Pusher) Replay(ctx context.Context) error {
	if err := p.SweepAll(ctx); err != nil {
		return err
	}
	_, err := p.q.DeadLetters().Each(ctx, func(dl pushers.DeadLetter) error {
		return p.mark(ctx, work.LetterIDs(dl), true)
	})
	select {
	case p.poke <- struct{}{}:
	default:
	}
	return err
}

// mark adds products to the dirty set; force forgets what was last pushed
// for them, so they are pushed even when unchanged.
func (p *Pusher) mark(ctx context.Context, products []string, force bool) error {
	if force {
		for chunk := range slices.Chunk(products, 1000) {
			if err := p.rdb.HDel(ctx, p.k.pushed(), chunk...).Err(); err != nil {
				return err
			}
		}
	}
	return p.q.AddAll(ctx, products)
}

// Status reports the backlog (dirty and in-flight products), the age of
// the oldest, and the dead letters (the queue's figures), with this
// replica's state (standby while another holds the lease).
func (p *Pusher) Status(ctx context.Context) (pushers.Status, error) {
	st, err := p.q.Status(ctx)
	st.State = p.state.Load().(string)
	if err != nil {
		return st, err
	}
	st.NotFound, _ = p.rdb.ZCard(ctx, p.k.notFound()).Result()
	if st.NotFound > 0 {
		st.NotFoundRecent, _ = p.rdb.ZRevRange(ctx, p.k.notFound(), 0, pushers.RecentDeadLetters-1).Result()
	}
	return st, nil
}

// Run pushes until ctx ends; it returns nil then. It holds the lease while
// it works and waits in standby while another replica does.
func (p *Pusher) Run(ctx context.Context) error {
	ctx = erp.WithClass(ctx, erp.Background) // nobody waits on a sweep
	var tok int64
	defer func() {
		p.state.Store(pushers.StateOff)
		if tok != 0 {
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			p.lease.Release(rctx, tok)
			cancel()
		}
	}()
	failures := 0
	for ctx.Err() == nil {
		got, err := p.lease.Acquire(ctx, tok)
		if err != nil {
			failures++
			p.state.Store(pushers.StateFailing)
			pushers.Sleep(ctx, retry.Policy{Base: p.cfg.Poll, Max: 30 * time.Second}.Wait(failures))
			continue
		}
		if got == 0 {
			tok = 0
			p.state.Store(pushers.StateStandby)
			pushers.Sleep(ctx, min(p.cfg.LeaseTTL/3, 5*time.Second))
			continue
		}
		if got != tok {
			tok = got
			if err := p.recoverInflight(ctx); err != nil {
				continue
			}
		}
		if err := p.round(ctx, tok); err != nil && ctx.Err() == nil {
			failures++
			p.state.Store(pushers.StateFailing)
			p.q.Failure(ctx, err.Error())
			p.log.Warn("stock: round failed", "err", err)
			pushers.Sleep(ctx, p.policy().Wait(failures))
			continue
		}
		failures = 0
		select {
		case <-ctx.Done():
		case <-p.poke:
		case <-time.After(p.cfg.Poll):
		}
	}
	return nil
}

// policy is the retry policy between attempts of a batch or a round.
func (p *Pusher) policy() retry.Policy {
	return retry.Policy{Base: p.cfg.RetryBase, Max: p.cfg.RetryMax}
}

// recoverInflight takes back, as a new lease holder, the batch the last
// holder had claimed, and the marks a release before the queue left in
// its dirty set and in-flight hash.
func (p *Pusher) recoverInflight(ctx context.Context) error {
	if err := p.drainLegacy(ctx); err != nil {
		return err
	}
	n, err := p.q.Release(ctx)
	if n > 0 {
		p.log.Info("stock: took back products in flight when the last holder stopped", "products", n)
	}
	return err
}

// drainLegacy marks the products of the earlier release's dirty set and
// in-flight hash on the queue, then deletes them.
func (p *Pusher) drainLegacy(ctx context.Context) error {
	products, err := p.rdb.ZRange(ctx, p.k.dirty(), 0, -1).Result()
	if err != nil {
		return err
	}
	infl, err := p.rdb.HKeys(ctx, p.k.inflight()).Result()
	if err != nil {
		return err
	}
	products = append(products, infl...)
	if len(products) == 0 {
		return nil
	}
	if err := p.q.AddAll(ctx, products); err != nil {
		return err
	}
	p.log.Info("stock: moved the marks of the earlier release to the queue", "products", len(products))
	return p.rdb.Del(ctx, p.k.dirty(), p.k.inflight()).Err()
}

// round sweeps when one is due, then pushes the backlog.
func (p *Pusher) round(ctx context.Context, tok int64) error {
	swept, err := p.maybeSweep(ctx)
	if err != nil {
		return err
	}
	n, err := p.drain(ctx, tok)
	if swept {
		p.count(func(s *Stats) { s.LastSweepBatches = n })
	}
	return err
}

// maybeSweep sweeps when one is due (SweepEvery since the last, or a full
// one asked for by Replay, or none ever) and reports whether it did.
func (p *Pusher) maybeSweep(ctx context.Context) (bool, error) {
	pipe := p.rdb.Pipeline()
	fullC := pipe.Get(ctx, p.k.full())
	sweptC := pipe.Get(ctx, p.k.swept())
	wmC := pipe.Get(ctx, p.k.watermark())
	pipe.Exec(ctx)
	full := fullC.Val() == "1"
	last, _ := strconv.ParseInt(sweptC.Val(), 10, 64)
	now := p.cfg.Now()
	if !full && last > 0 && now.Sub(time.UnixMilli(last)) < p.cfg.SweepEvery {
		return false, nil
	}
	var since time.Time
	if wm, err := time.Parse(time.RFC3339, wmC.Val()); err == nil && !full {
		since = wm.Add(-p.cfg.Overlap)
	}
	p.state.Store(pushers.StateRunning)
	products, newest, err := p.changedSince(ctx, since)
	if err != nil {
		return false, fmt.Errorf("stock: sweep: %w", err)
	}
	if err := p.mark(ctx, products, full); err != nil {
		return false, fmt.Errorf("stock: sweep: %w", err)
	}
	pipe = p.rdb.TxPipeline()
	if newest.After(since) {
		pipe.Set(ctx, p.k.watermark(), newest.UTC().Format(time.RFC3339), 0)
	}
	pipe.Set(ctx, p.k.swept(), now.UnixMilli(), 0)
	if full {
		pipe.Del(ctx, p.k.full())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("stock: sweep: %w", err)
	}
	p.count(func(s *Stats) { s.Sweeps++ })
	p.log.Info("stock: swept", "full", full, "since", since, "products", len(products))
	return true, nil
}

// changedSince lists the products with a counted balance changed at or
// after since (all when since is zero), and the newest ChangedAt seen.
func (p *Pusher) changedSince(ctx context.Context, since time.Time) ([]string, time.Time, error) {
	seen := map[string]bool{}
	var out []string
	var newest time.Time
	err := erp.EachPage(ctx, maxPages, p.availability(nil, since), func(as []erp.Availability, _ int) error {
		for _, a := range as {
			if p.wh != nil && !p.wh[a.Warehouse] {
				continue
			}
			if t, err := time.Parse(time.RFC3339, a.ChangedAt); err == nil && t.After(newest) {
				newest = t
			}
			if !seen[a.ProductNumber] && a.ProductNumber != "" {
				seen[a.ProductNumber] = true
				out = append(out, a.ProductNumber)
			}
		}
		return nil
	})
	if err != nil {
		return nil, newest, err
	}
	return out, newest, nil
}

// maxPages bounds a ProductAvailability listing (a million balances)
// against a server that never says the list has ended.
const maxPages = 10000

// availability lists ProductAvailability of products (nil: all) changed
// since (zero: ever), a page at a time, each call bounded by Budget.
func (p *Pusher) availability(products []string, since time.Time) func(ctx context.Context, page int) (erp.Page[erp.Availability], error) {
	return func(ctx context.Context, page int) (erp.Page[erp.Availability], error) {
		pctx, cancel := context.WithTimeout(ctx, p.cfg.Budget)
		defer cancel()
		return p.erp.ProductAvailability(pctx, products, p.oneWarehouse(), since, page, erp.MaxPageSize)
	}
}

// oneWarehouse is the warehouse filter sent to the ERP: the one counted
// warehouse, or "" (all, filtered here).
func (p *Pusher) oneWarehouse() string {
	if len(p.cfg.Warehouses) == 1 {
		return p.cfg.Warehouses[0]
	}
	return ""
}

// drain pushes batches until none is due or the lease is lost; it
// returns the number of batches pushed.
func (p *Pusher) drain(ctx context.Context, tok int64) (int64, error) {
	var batches int64
	for ctx.Err() == nil {
		if got, err := p.lease.Acquire(ctx, tok); err != nil || got != tok {
			return batches, err
		}
		b, err := p.q.ClaimBatch(ctx, p.cfg.BatchSize, p.lease, tok)
		if errors.Is(err, work.ErrFenced) {
			return batches, nil
		}
		if err != nil {
			return batches, err
		}
		if b == nil {
			p.state.Store(pushers.StateIdle)
			return batches, nil
		}
		p.state.Store(pushers.StateRunning)
		if err := p.push(ctx, b); err != nil {
			return batches, err
		}
		batches++
	}
	return batches, nil
}

// push fetches the batch's balances, pushes what changed to every sink
// and acknowledges the batch. A fetch error puts it back, due at once; a
// shutdown leaves it claimed (the next holder takes it back).
func (p *Pusher) push(ctx context.Context, b *work.Batch) error {
	products := b.IDs
	items, err := p.fetch(ctx, products)
	if err != nil {
		p.q.Release(ctx)
		return fmt.Errorf("stock: fetch balances: %w", err)
	}
	sigs := make([]string, len(items))
	names := make([]string, len(items))
	for i, it := range items {
		sigs[i], names[i] = it.signature(), it.Product
	}
	var prev []any
	if len(names) > 0 {
		prev, err = p.rdb.HMGet(ctx, p.k.pushed(), names...).Result()
		if err != nil {
			return err
		}
	}
	var batch Batch
	for i, it := range items {
		if s, ok := prev[i].(string); ok && s == sigs[i] {
			continue
		}
		batch.Items = append(batch.Items, it)
	}
	skipped := int64(len(items) - len(batch.Items))
	allOK := true
	if len(batch.Items) > 0 {
		for i, s := range p.sinks {
			if !p.pushSink(ctx, i, s, batch) {
				allOK = false
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the next holder takes the batch back
	}
	if allOK && len(batch.Items) > 0 {
		kv := make([]any, 0, 2*len(batch.Items))
		for _, it := range batch.Items {
			kv = append(kv, it.Product, it.signature())
		}
		if err := p.rdb.HSet(ctx, p.k.pushed(), kv...).Err(); err != nil {
			return err
		}
	}
	if err := b.Ack(ctx); err != nil {
		return err
	}
	p.count(func(s *Stats) {
		s.Skipped += skipped
		if len(batch.Items) > 0 {
			s.Batches++
			s.Pushed += int64(len(batch.Items))
		}
	})
	if allOK {
		p.q.Success(ctx)
	}
	return nil
}

// pushSink pushes b to one sink with retries; it parks b as a dead letter
// and reports false when the sink keeps failing or rejects it.
func (p *Pusher) pushSink(ctx context.Context, i int, s Sink, b Batch) bool {
	var err error
	for attempt := 1; attempt <= p.cfg.MaxAttempts; attempt++ {
		if err = p.lims[i].Wait(ctx); err != nil {
			break
		}
		var rep Report
		rep, err = s.Push(ctx, b)
		if err == nil {
			if len(rep.NotFound) > 0 {
				p.count(func(st *Stats) { st.NotFound += int64(len(rep.NotFound)) })
				p.log.Warn("stock: the shop does not know these products", "sink", s.Name(),
					"count", len(rep.NotFound), "first", rep.NotFound[:min(5, len(rep.NotFound))])
			}
			if _, ok := s.(notFoundReporter); ok {
				p.noteNotFound(ctx, s.Name(), b, rep.NotFound)
			}
			return true
		}
		if errors.Is(err, ErrRejected) || ctx.Err() != nil {
			break
		}
		p.q.Failure(ctx, s.Name()+": "+err.Error())
		p.log.Warn("stock: push failed; retrying", "sink", s.Name(), "attempt", attempt, "err", err)
		if attempt < p.cfg.MaxAttempts && !pushers.Sleep(ctx, p.policy().Wait(attempt)) {
			break
		}
	}
	if ctx.Err() != nil {
		// Shutting down: leave the batch in flight for the next holder.
		return false
	}
	products := make([]string, len(b.Items))
	for j, it := range b.Items {
		products[j] = it.Product
	}
	if derr := p.q.Letter(ctx, s.Name()+": "+err.Error(), products...); derr != nil {
		p.log.Error("stock: cannot park a failed batch", "sink", s.Name(), "err", derr)
	}
	p.log.Error("stock: batch parked as a dead letter", "sink", s.Name(), "products", len(products), "err", err)
	return false
}

// notFoundReporter is a Sink whose Report.NotFound is meaningful.
type notFoundReporter interface {
	reportsNotFound()
}

// maxNotFound is how many unknown products are remembered for the status.
const maxNotFound = 10000

// noteNotFound keeps, for /admin/pushers, the products of b that the sink
// reported it does not know ("sink: product", newest first), and forgets
// those it now knows.
func (p *Pusher) noteNotFound(ctx context.Context, sink string, b Batch, notFound []string) {
	nf := make(map[string]bool, len(notFound))
	for _, pr := range notFound {
		nf[pr] = true
	}
	var known []any
	var unknown []redis.Z
	now := float64(p.cfg.Now().UnixMilli())
	for _, it := range b.Items {
		if nf[it.Product] {
			unknown = append(unknown, redis.Z{Score: now, Member: sink + ": " + it.Product})
		} else {
			known = append(known, sink+": "+it.Product)
		}
	}
	pipe := p.rdb.Pipeline()
	if len(known) > 0 {
		pipe.ZRem(ctx, p.k.notFound(), known...)
	}
	if len(unknown) > 0 {
		pipe.ZAdd(ctx, p.k.notFound(), unknown...)
		pipe.ZRemRangeByRank(ctx, p.k.notFound(), 0, -maxNotFound-1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		p.log.Warn("stock: cannot keep the products the shop does not know", "sink", sink, "err", err)
	}
}

// fetch reads the balances of products, paging, and builds their items in
// the order given. Products the ERP lists no counted balance for are left
// out (there is nothing true to tell the shop).
func (p *Pusher) fetch(ctx context.Context, products []string) ([]Item, error) {
	levels := map[string][]Level{}
	err := erp.EachPage(ctx, maxPages, p.availability(products, time.Time{}), func(as []erp.Availability, _ int) error {
		for _, a := range as {
			if p.wh != nil && !p.wh[a.Warehouse] {
				continue
			}
			t, _ := time.Parse(time.RFC3339, a.ChangedAt)
			levels[a.ProductNumber] = append(levels[a.ProductNumber], Level{
				Warehouse: a.Warehouse, Available: whole(float64(a.AvailableBalance)), ChangedAt: t,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Item, 0, len(products))
	for _, pr := range products {
		ls, ok := levels[pr]
		if !ok {
			continue
		}
		sort.Slice(ls, func(i, j int) bool { return ls[i].Warehouse < ls[j].Warehouse })
		ls = slices.CompactFunc(ls, func(a, b Level) bool { return a.Warehouse == b.Warehouse })
		out = append(out, Item{Product: pr, Levels: ls})
	}
	return out, nil
}

// whole rounds a balance down to a whole number >= 0.
func whole(f float64) int64 {
	if f <= 0 || math.IsNaN(f) {
		return 0
	}
	if f > math.MaxInt32 {
		return math.MaxInt32
	}
	return int64(math.Floor(f))
}
