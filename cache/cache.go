package cache

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// The engine's API, and its policy: what is served, what is built, and
// when (Get, and resolve for every key of every kind).

// Config configures a Cache.
type Config struct {
	// Memory is the in-process tier; required.
	Memory *Memory
	// Redis, when not nil, is the tier shared by replicas (REDIS_URL). Run
	// Cache.Run then, so that this replica hears of the others' flushes.
	Redis *Redis
	// StaleFor is how long past its freshness an entry may still be
	// served: while it is renewed, or while fills fail (CACHE_STALE_FOR).
	StaleFor time.Duration
	// Budget is the most time one fill may take (EXTEND_TIMEOUT).
	Budget time.Duration
	// FeedLag is how far behind the ERP an entry of a tracked kind may be
	// served as fresh, past its TTL: the change sweep's period
	// (CACHE_SWEEP_EVERY, see Confirm), to which feedSlack is added for
	// the time a sweep takes. 0: kinds follow their TTL alone.
	FeedLag time.Duration
	// KeepFor is how long entries of tracked kinds are kept, at least
	// (CACHE_KEEP_FOR): the change announcements keep them fresh, so they
	// are worth keeping for as long as customers come back.
	KeepFor time.Duration
	// Renewal, when not nil, marks the context of a renewal nobody waits
	// on (stale-while-revalidate), e.g. with erp.WithClass(ctx,
	// erp.Refresh), so that waiting callers go first.
	Renewal func(context.Context) context.Context
	// Now is the clock of build times and freshness; nil means time.Now.
	Now func() time.Time
	// Observer is told what the cache did; nil means nobody.
	Observer Observer
	// Logger is told of Redis failures; nil discards.
	Logger *slog.Logger
}

// Cache is the gateway's cache engine. It is safe for concurrent use.
type Cache struct {
	mem      *Memory
	redis    *Redis // nil: one replica, Memory alone
	staleFor time.Duration
	budget   time.Duration
	feedLag  time.Duration
	keepFor  time.Duration
	renewal  func(context.Context) context.Context
	now      func() time.Time
	obs      Observer
	log      *slog.Logger

	gens   *genTable            // flush.go
	feed   atomic.Pointer[Feed] // Confirm's; nil: none
	health redisHealth          // health.go

	flight   singleflight.Group // fills and renewals, by their keys
	learning singleflight.Group // reads of one scope's generations
	reading  singleflight.Group // reads of one key from Redis
	stats    Stats
}

// New returns a Cache.
func New(cfg Config) *Cache {
	c := &Cache{
		mem: cfg.Memory, redis: cfg.Redis, staleFor: cfg.StaleFor, budget: cfg.Budget,
		feedLag: cfg.FeedLag + min(cfg.FeedLag/10, feedSlack), keepFor: cfg.KeepFor,
		renewal: cfg.Renewal, now: cfg.Now, obs: cfg.Observer, log: cfg.Logger,
		gens: newGenTable(),
	}
	if c.mem == nil {
		c.mem = NewMemory(0)
	}
	if c.renewal == nil {
		c.renewal = func(ctx context.Context) context.Context { return ctx }
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.health.log = c.log
	if c.redis == nil {
		c.gens.live.Store(true) // nothing to hear of: this process is the only one
	}
	return c
}

// feedSlack is the most added to FeedLag for the time a sweep takes:
// entries stay fresh while the next sweep runs.
const feedSlack = 10 * time.Second

// Kind is a family of entries with one freshness, e.g. the order lists.
type Kind struct {
	Name string        // for the Observer and metrics, e.g. "orders"
	TTL  time.Duration // how long an entry is fresh, at least
	// Tracked: every change in the ERP to what these entries are built
	// from is announced (Retire, then Confirm), so an entry stays fresh
	// past its TTL for as long as the announcements keep up (FeedLag),
	// and is kept for KeepFor.
	Tracked bool
}

// Entry is a cached value and when it was built. Body must not be
// modified: it is shared with other readers.
type Entry struct {
	Body  []byte
	Built time.Time
}

// Results, as sent in X-Cache.
const (
	Hit   = "HIT"   // fresh, from the cache
	Stale = "STALE" // past freshness, from the cache; a renewal runs, or the fill failed
	Miss  = "MISS"  // built by a fill
)

// Outcome is what the cache did for one Get or GetMany.
type Outcome struct {
	Result string        // Hit, Stale or Miss
	Tier   string        // where a Hit or Stale was found: TierMemory or TierRedis
	Age    time.Duration // since the entry (the oldest one) was built
	TTL    time.Duration // freshness left; negative when stale
	// Collapsed: a Miss that waited on a fill another request made, in
	// this process or (Replica) on another replica.
	Collapsed, Replica bool
	// Stored: a Miss whose entries were kept in Redis (or, without Redis,
	// in Memory).
	Stored bool
	// Expired: a Miss for which an entry too old to serve was cached.
	Expired bool
}

// Fill builds the value of one key.
type Fill func(ctx context.Context) ([]byte, error)

// FillMany builds the values of keys. A key it leaves out of the map is
// neither stored nor served.
type FillMany func(ctx context.Context, keys []string) (map[string][]byte, error)

// Get returns the entry under key, and fills it when there is none to
// serve. The policy, for every key of every kind:
//   - fresh (younger than kind.TTL): served as stored, from Memory without
//     a round trip when this replica holds it, else from Redis;
//   - stale (up to StaleFor older): served at once, while one renewal
//     builds a fresh one in the background (stale-while-revalidate);
//   - missing, or older: built by fill, once however many ask, in this
//     process and across replicas, detached from the caller's context and
//     bounded by Budget; when the fill fails, an entry still inside the
//     stale window is served instead (stale-if-error).
//
// The error is fill's, or ctx's when the caller gave up first.
func (c *Cache) Get(ctx context.Context, kind Kind, key string, fill Fill) (Entry, Outcome, error) {
	f := c.lookup(ctx, key, c.lifetime(kind))
	if f.tier != "" {
		// The common case first, without allocating.
		now := c.now()
		if left := c.freshFor(kind, f.Built, now); left > 0 {
			c.count(kind, Hit)
			return f.Entry, Outcome{Result: Hit, Tier: f.tier, Age: now.Sub(f.Built), TTL: left}, nil
		}
	}
	ents, o, err := c.resolve(ctx, kind, []string{key}, []found{f}, func(ctx context.Context, _ []string) (map[string][]byte, error) {
		b, err := fill(ctx)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{key: b}, nil
	})
	if err != nil {
		return Entry{}, o, err
	}
	return ents[0], o, nil
}

// GetMany is Get for several keys of one kind: an answer put together from
// parts, such as the prices of many products. The parts that are missing,
// or stale, are built by one fill. The outcome is a Hit when every part is
// fresh, Stale when some are stale but none missing (one renewal of those
// runs), and a Miss when any had to be built; a failed fill is the error
// unless every part can stand in. An entry fill leaves out comes back
// empty.
func (c *Cache) GetMany(ctx context.Context, kind Kind, keys []string, fill FillMany) ([]Entry, Outcome, error) {
	return c.resolve(ctx, kind, keys, c.lookupMany(ctx, keys, c.lifetime(kind)), fill)
}

// resolve applies the policy of Get to what the lookup found (fs).
func (c *Cache) resolve(ctx context.Context, kind Kind, keys []string, fs []found, fill FillMany) ([]Entry, Outcome, error) {
	now := c.now()
	ents := make([]Entry, len(keys))
	have := make([]bool, len(keys))
	o := Outcome{Result: Hit, TTL: math.MaxInt64} // add lowers TTL to the least fresh entry's
	var need []string                             // missing, too old or stale: to build
	missing, expired := false, false
	for i, f := range fs {
		age := now.Sub(f.Built)
		switch {
		case f.tier == "":
			missing = true
		case age >= c.lifetime(kind):
			missing, expired = true, true
		default:
			ents[i], have[i] = f.Entry, true
			left := c.freshFor(kind, f.Built, now)
			o.add(f.tier, age, left)
			if left > 0 {
				continue
			}
		}
		need = append(need, keys[i])
	}
	slices.Sort(need)
	need = slices.Compact(need)

	if !missing {
		if len(need) > 0 {
			// Stale-while-revalidate: serve what is cached, and renew the
			// stale entries once, in the background.
			o.Result = Stale
			c.flight.DoChan(flightKey(need), func() (any, error) { return c.fill(c.renewal(ctx), kind, need, fill) })
		}
		c.count(kind, o.Result)
		return ents, o, nil
	}

	ch := c.flight.DoChan(flightKey(need), func() (any, error) { return c.fill(ctx, kind, need, fill) })
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		c.count(kind, Miss)
		return nil, Outcome{Result: Miss}, ctx.Err()
	}
	if res.Shared {
		c.stats.Coalesced.Add(1)
		c.obs.Coalesced(kind.Name)
	}
	if res.Err != nil {
		if c.standIn(ctx, kind, keys, fs, ents, have, &o) {
			o.Result = Stale
			c.count(kind, Stale)
			return ents, o, nil
		}
		c.count(kind, Miss)
		return nil, Outcome{Result: Miss}, res.Err
	}
	c.count(kind, Miss)
	f := res.Val.(filled)
	for i, k := range keys {
		if e, ok := f.ents[k]; ok {
			ents[i] = e
		}
	}
	now = c.now()
	return ents, Outcome{
		Result: Miss, Age: max(now.Sub(f.built), 0), TTL: c.freshFor(kind, f.built, now),
		Collapsed: res.Shared || f.replica, Replica: f.replica, Stored: f.stored, Expired: expired,
	}, nil
}

// add notes in o one entry served from tier at age, fresh for left (or
// stale since -left).
func (o *Outcome) add(tier string, age, left time.Duration) {
	if o.Tier == "" || tier == TierRedis {
		o.Tier = tier
	}
	o.TTL = min(o.TTL, left)
	o.Age = max(o.Age, age)
}

// standIn is stale-if-error: after a failed fill, each key with nothing
// to serve that the first lookup did not find is read from Redis once
// more, and an entry still inside the stale window stands in. It reports
// whether every key has an entry now.
func (c *Cache) standIn(ctx context.Context, kind Kind, keys []string, fs []found, ents []Entry, have []bool, o *Outcome) bool {
	for i, k := range keys {
		if have[i] {
			continue
		}
		if fs[i].tier != "" {
			return false // found, but too old to serve
		}
		e, ok := c.lastChanceRead(ctx, k)
		if !ok {
			return false
		}
		now := c.now()
		age := now.Sub(e.Built)
		if age >= c.lifetime(kind) {
			return false
		}
		ents[i], have[i] = e, true
		o.add(TierRedis, age, c.freshFor(kind, e.Built, now))
	}
	return true
}

// filled is what a fill made: an entry per key built, when they were built,
// and how.
type filled struct {
	ents    map[string]Entry
	built   time.Time
	replica bool // built by another replica, read from Redis
	stored  bool // kept in Redis (or, without Redis, in Memory)
}

// fill builds the entries of keys (sorted, distinct) with build and stores
// them, detached from the caller's context, so that a caller who hangs up
// does not cancel the work others wait for; the build gets Budget. The
// generations are read before the build and the entries stored under
// them, so that a flush during the build retires them too (flush.go). With
// Redis, one replica builds while the others wait (coalesceReplicas).
func (c *Cache) fill(ctx context.Context, kind Kind, keys []string, build FillMany) (filled, error) {
	ctx = context.WithoutCancel(ctx)
	gs, known := c.snapshot(ctx, keys)
	unlock, f, done := c.coalesceReplicas(ctx, kind, keys, gs, known)
	if done {
		return f, nil
	}
	defer unlock()
	bctx, cancel := context.WithTimeout(ctx, c.budget)
	defer cancel()
	c.stats.Fetches.Add(1)
	c.obs.Fetch(kind.Name)
	vals, err := build(bctx, keys)
	if err != nil {
		return filled{}, err
	}
	built := c.now()
	f = filled{ents: make(map[string]Entry, len(keys)), built: built}
	ws := make([]write, 0, len(keys))
	for i, k := range keys {
		b, ok := vals[k]
		if !ok {
			continue
		}
		f.ents[k] = Entry{Body: b, Built: built}
		ws = append(ws, write{key: k, g: gs[i], known: known[i], val: encodeEntry(built, b)})
	}
	f.stored = c.store(ctx, c.lifetime(kind), ws...)
	return f, nil
}

// flightKey names a fill of keys for coalescing.
func flightKey(keys []string) string { return strings.Join(keys, "\x00") }

// Put stores body under key as built now: for a value that was fetched
// anyway, such as a record read for a list, or a balance a webhook
// announced.
func (c *Cache) Put(ctx context.Context, kind Kind, key string, body []byte) {
	c.put(ctx, kind, key, body, c.now())
}

// Peek returns the entry under key, fresh or not, if the cache holds one
// that may still be served; it fills nothing.
func (c *Cache) Peek(ctx context.Context, kind Kind, key string) (Entry, bool) {
	f := c.lookup(ctx, key, c.lifetime(kind))
	if f.tier == "" || c.now().Sub(f.Built) >= c.lifetime(kind) {
		return Entry{}, false
	}
	return f.Entry, true
}

// Fresh reports whether e, an entry of kind, is fresh now.
func (c *Cache) Fresh(kind Kind, e Entry) bool { return c.freshFor(kind, e.Built, c.now()) > 0 }

// Expire makes the entry under key stale, if there is one: the next Get
// serves it as Stale while it is renewed.
func (c *Cache) Expire(ctx context.Context, kind Kind, key string) {
	if e, ok := c.Peek(ctx, kind, key); ok {
		built := c.now().Add(-kind.TTL)
		if e.Built.Before(built) {
			built = e.Built
		}
		c.put(ctx, kind, key, e.Body, built)
	}
}

// put stores body under key as built at built, under the generations of
// now.
func (c *Cache) put(ctx context.Context, kind Kind, key string, body []byte, built time.Time) {
	g, known := c.generations(ctx, Keys{}.Scope(key))
	c.store(ctx, c.lifetime(kind), write{key: key, g: g, known: known, val: encodeEntry(built, body)})
}

// Lifetime is how long after it was built an entry of kind may be served:
// its TTL and the stale window.
func (c *Cache) Lifetime(kind Kind) time.Duration { return c.lifetime(kind) }

func (c *Cache) lifetime(kind Kind) time.Duration {
	if kind.Tracked {
		return max(kind.TTL+c.staleFor, c.keepFor)
	}
	return kind.TTL + c.staleFor
}

// Lease takes the lease name for ttl, for work only one replica should do
// at a time (the change sweep), and reports whether it got it; it is not
// released, only left to expire. Without Redis this replica always gets
// it. The error wraps ErrUnavailable when Redis cannot be reached.
func (c *Cache) Lease(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	if c.redis == nil {
		return true, nil
	}
	token, err := c.redis.TryLock(ctx, Keys{}.Lease(name), ttl)
	c.health.observe("lease", err)
	if err != nil {
		return false, fmt.Errorf("cache: lease: %w", err)
	}
	return token != "", nil
}

// RedisDown reports whether Redis is down (health.go): false without
// Redis.
func (c *Cache) RedisDown() bool { return c.redis != nil && c.health.down.Load() }

// Stats counts what the cache did; read with Load.
type Stats struct {
	Hits, Misses, Stale, Coalesced, Fetches atomic.Int64
	// ReplicaWaits counts fills that waited on another replica's.
	ReplicaWaits atomic.Int64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() *Stats { return &c.stats }

// Observer is told what the cache did, for metrics; telemetry's
// CacheObserver is one. Its methods must be cheap and safe for concurrent
// use.
type Observer interface {
	// CacheResult is told the one outcome of each Get or GetMany: Hit,
	// Miss or Stale.
	CacheResult(kind, result string)
	// Coalesced is told of each request that waited on another's fill,
	// in this process or on another replica.
	Coalesced(kind string)
	// Fetch is told of each fill that builds.
	Fetch(kind string)
}

type nopObserver struct{}

func (nopObserver) CacheResult(string, string) {}
func (nopObserver) Coalesced(string)           {}
func (nopObserver) Fetch(string)               {}

// count records a request's one outcome, in Stats and the Observer.
func (c *Cache) count(kind Kind, result string) {
	switch result {
	case Hit:
		c.stats.Hits.Add(1)
	case Stale:
		c.stats.Stale.Add(1)
	default:
		c.stats.Misses.Add(1)
	}
	c.obs.CacheResult(kind.Name, result)
}
