package pull

import (
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"github.com/vendre-extend/gateway/cache"
)

// Where an entry was found, as reported in Answer.Tier.
const (
	TierMemory = "memory" // the in-process tier
	TierShared = "redis"  // the store shared by replicas
)

// Local is the in-process tier; *cache.Memory has it.
type Local interface {
	Store
	// Clear removes every entry.
	Clear()
}

// Shared is what a store shared by replicas offers beyond bytes: short
// locks, counters and flush notices. *cache.Redis has it. When the Store
// given to New has these methods, replicas coalesce fills and flushes
// through it.
type Shared interface {
	Store
	TryLock(ctx context.Context, key string, ttl time.Duration) (token string, err error)
	Unlock(ctx context.Context, key, token string) error
	Exists(ctx context.Context, key string) (bool, error)
	Ints(ctx context.Context, keys ...string) ([]int64, error)
	SetCounted(ctx context.Context, key string, val []byte, ttl time.Duration, counted ...string) error
	Bump(ctx context.Context, all, gen, seq, written, channel, note string) (cache.Bumped, error)
	Subscribe(ctx context.Context, channel string, onMessage func(payload string), onSubscribed func()) error
}

// maxGenScopes bounds how many customers' generations a replica remembers;
// a forgotten one is read from Redis again (one MGET) on its next request.
const maxGenScopes = 1 << 17

// circuitOpen is how long the shared store is left alone after it failed
// to answer, so that a dead Redis costs one timeout a second, not one per
// request.
const circuitOpen = time.Second

// tiers is the Service's cache: an optional in-process tier (local) in
// front of the configured store. When that store is shared by replicas
// (Shared), every entry in it lives under a generation key
// (cache.Keys.Generation), and the in-process copy remembers the
// generations it was stored under, so a flush anywhere makes it
// unreachable here too. tiers is itself a Store, holding entry bytes
// (encodeEntry).
//
// When the shared store fails, tiers opens a circuit for a second: reads
// then come from the in-process tier alone (whatever its generations, as
// they cannot be checked), and writes go to it alone.
type tiers struct {
	local  Local  // nil: none
	store  Store  // the configured store; shared, when it is Shared
	shared Shared // nil when store is not Shared
	// storeTier names store in Answer.Tier.
	storeTier string
	gens      *genTable
	// keep is how long an entry copied from the shared store into the
	// local tier may live past its build time.
	keep time.Duration
	log  logger
	now  func() time.Time // the Service's clock, which entries' build times follow
	// learning coalesces the reads of one scope's generations.
	learning singleflight.Group
	// reading coalesces concurrent reads of one key from the shared store.
	reading singleflight.Group

	openUntil atomic.Int64 // unix nanoseconds; the circuit is open before it
}

type logger interface {
	Warn(msg string, args ...any)
}

func newTiers(store Store, local Local, keep time.Duration, log logger, now func() time.Time) *tiers {
	t := &tiers{local: local, store: store, keep: keep, log: log, now: now, storeTier: TierShared}
	if _, ok := store.(Local); ok {
		t.storeTier = TierMemory // a single replica's in-process store
	}
	if sh, ok := store.(Shared); ok {
		t.shared = sh
		t.gens = newGenTable()
	}
	return t
}

// usable reports whether the shared store may be called now.
func (t *tiers) usable() bool {
	return t.shared != nil && time.Now().UnixNano() >= t.openUntil.Load()
}

// failed notes a failure of the shared store; one that says Redis cannot
// serve opens the circuit.
func (t *tiers) failed(op string, err error) {
	if errors.Is(err, cache.ErrUnavailable) {
		if t.openUntil.Swap(time.Now().Add(circuitOpen).UnixNano()) < time.Now().UnixNano() {
			t.log.Warn("redis unavailable; using the in-process tier and the ERP for a second", "op", op, "err", err)
		}
		return
	}
	t.log.Warn("cache "+op+" failed", "err", err)
}

// gensKey carries a generation snapshot in a context (see withGens).
type gensKey struct{}

// snapshot is the generations read when a fill started: what it builds is
// stored under them, so that a flush during the build retires it too.
type snapshot struct {
	scope     string
	all, cust int64
}

// withGens returns ctx carrying the generations of key's scope as they
// are now; ok is false when they cannot be known.
func (t *tiers) withGens(ctx context.Context, key string) (context.Context, snapshot, bool) {
	scope := keys.Scope(key)
	all, cust, ok := t.generations(ctx, scope)
	snap := snapshot{scope: scope, all: all, cust: cust}
	if !ok {
		return ctx, snap, false
	}
	return context.WithValue(ctx, gensKey{}, snap), snap, true
}

// generations returns the flush-all generation and that of scope (0 for
// scope ""); ok is false when they cannot be known (Redis unreachable).
// Without a shared store there are none (0, 0, true).
func (t *tiers) generations(ctx context.Context, scope string) (all, cust int64, ok bool) {
	if t.shared == nil {
		return 0, 0, true
	}
	if snap, ok := ctx.Value(gensKey{}).(snapshot); ok && (snap.scope == scope || scope == "") {
		if scope == "" {
			return snap.all, 0, true
		}
		return snap.all, snap.cust, true
	}
	if all, cust, ok := t.gens.get(scope); ok {
		return all, cust, true
	}
	if !t.usable() {
		return 0, 0, false
	}
	v, err, _ := t.learning.Do(scope, func() (any, error) {
		epoch := t.gens.epoch.Load()
		ks := []string{keys.GenAll()}
		if scope != "" {
			ks = append(ks, keys.GenCustomer(scope))
		}
		v, err := t.shared.Ints(context.WithoutCancel(ctx), ks...)
		if err != nil {
			return nil, err
		}
		if scope == "" {
			v = append(v, 0)
		}
		all, cust := t.gens.learn(epoch, scope, v[0], v[1])
		return [2]int64{all, cust}, nil
	})
	if err != nil {
		t.failed("generations", err)
		return 0, 0, false
	}
	g := v.([2]int64)
	return g[0], g[1], true
}

// get returns the entry bytes stored under key and the tier that had them.
// A failure of the shared store counts as a miss.
func (t *tiers) get(ctx context.Context, key string) ([]byte, string, bool) {
	if t.shared == nil {
		if t.local != nil {
			if b, ok, _ := t.local.Get(ctx, key); ok {
				return b, TierMemory, true
			}
		}
		b, ok, err := t.store.Get(ctx, key)
		if err != nil {
			t.log.Warn("cache get failed", "err", err)
			return nil, "", false
		}
		return b, t.storeTier, ok
	}
	scope := keys.Scope(key)
	all, cust, known := t.generations(ctx, scope)
	if t.local != nil {
		if b, ok, _ := t.local.Get(ctx, key); ok && len(b) >= 16 {
			la, lc := int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:])) // #nosec G115 -- generation counters round-trip through their bit pattern
			if !known || la == all && lc == cust {
				return b[16:], TierMemory, true
			}
		}
	}
	if !known || !t.usable() {
		return nil, "", false
	}
	// Concurrent reads of one key share one round trip.
	gkey := keys.Generation(key, all, cust)
	v, err, _ := t.reading.Do(gkey, func() (any, error) {
		b, ok, err := t.shared.Get(context.WithoutCancel(ctx), gkey)
		if err != nil || !ok {
			return nil, err
		}
		t.setLocal(ctx, key, all, cust, b, t.keepLeft(b))
		return b, nil
	})
	if err != nil {
		t.failed("get", err)
		return nil, "", false
	}
	b, _ := v.([]byte)
	return b, TierShared, b != nil
}

// getAnyway reads key from the shared store even while its circuit is
// open, with generations this replica already knows: the last chance of
// a stale answer when the ERP failed too. It is bounded by lastChance.
func (t *tiers) getAnyway(ctx context.Context, key string) ([]byte, bool) {
	if t.shared == nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastChance)
	defer cancel()
	scope := keys.Scope(key)
	all, cust, known := t.gens.get(scope)
	if !known {
		ks := []string{keys.GenAll()}
		if scope != "" {
			ks = append(ks, keys.GenCustomer(scope))
		}
		v, err := t.shared.Ints(ctx, ks...)
		if err != nil {
			return nil, false
		}
		all = v[0]
		if scope != "" {
			cust = v[1]
		}
	}
	b, ok, err := t.shared.Get(ctx, keys.Generation(key, all, cust))
	if err != nil || !ok {
		return nil, false
	}
	return b, true
}

// lastChance bounds getAnyway's read.
const lastChance = 250 * time.Millisecond

// keepLeft is how long an entry read from the shared store may still
// serve: t.keep past its build time.
func (t *tiers) keepLeft(b []byte) time.Duration {
	if len(b) < 8 {
		return 0
	}
	built := time.Unix(0, int64(binary.BigEndian.Uint64(b))) // #nosec G115 -- the bit pattern of a UnixNano written by this package
	return built.Add(t.keep).Sub(t.now())
}

// setLocal keeps b in the in-process tier, stamped with its generations.
func (t *tiers) setLocal(ctx context.Context, key string, all, cust int64, b []byte, ttl time.Duration) {
	if t.local == nil || ttl <= 0 {
		return
	}
	v := make([]byte, 16+len(b))
	binary.BigEndian.PutUint64(v, uint64(all))      // #nosec G115 -- bit pattern, read back as int64
	binary.BigEndian.PutUint64(v[8:], uint64(cust)) // #nosec G115 -- bit pattern, read back as int64
	copy(v[16:], b)
	_ = t.local.Set(ctx, key, v, ttl) // in-process: never fails
}

// Get implements Store.
func (t *tiers) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, _, ok := t.get(ctx, key)
	return b, ok, nil
}

// Set implements Store: it stores the entry bytes val in both tiers. With
// the shared store unusable, the in-process tier alone keeps it.
func (t *tiers) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if t.shared == nil {
		if t.local != nil {
			_ = t.local.Set(ctx, key, val, ttl)
		}
		return t.store.Set(ctx, key, val, ttl)
	}
	scope := keys.Scope(key)
	all, cust, known := t.generations(ctx, scope)
	if !known {
		// Stamped -1: served while Redis is away, never once it is back.
		t.setLocal(ctx, key, -1, -1, val, ttl)
		return nil
	}
	t.setLocal(ctx, key, all, cust, val, ttl)
	if !t.usable() {
		return nil
	}
	counted := []string{keys.Written("")}
	if scope != "" {
		counted = append(counted, keys.Written(scope))
	}
	if err := t.shared.SetCounted(ctx, keys.Generation(key, all, cust), val, ttl, counted...); err != nil {
		t.failed("set", err)
	}
	return nil
}

// DeletePrefix implements Store. With a shared store it removes only the
// in-process copies: the flushes use generations instead.
func (t *tiers) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if t.shared != nil {
		if t.local == nil {
			return 0, nil
		}
		return t.local.DeletePrefix(ctx, prefix)
	}
	if t.local != nil {
		_, _ = t.local.DeletePrefix(ctx, prefix)
	}
	return t.store.DeletePrefix(ctx, prefix)
}

// genTable is a replica's copy of the generations in Redis: the flush-all
// generation, and those of the customers it served lately. Reads take no
// lock; writes are serialised by mu.
type genTable struct {
	mu    sync.Mutex
	epoch atomic.Uint64 // incremented by forget
	all   atomic.Int64  // -1: not known
	seq   atomic.Int64  // the last flush sequence heard of; -1: none yet
	custs *otter.Cache[string, int64]
}

func newGenTable() *genTable {
	g := &genTable{custs: otter.Must(&otter.Options[string, int64]{MaximumSize: maxGenScopes})}
	g.all.Store(-1)
	g.seq.Store(-1)
	return g
}

// get returns the generations of scope, if known.
func (g *genTable) get(scope string) (all, cust int64, ok bool) {
	all = g.all.Load()
	if all < 0 {
		return 0, 0, false
	}
	if scope == "" {
		return all, 0, true
	}
	cust, ok = g.custs.GetIfPresent(scope)
	return all, cust, ok
}

// learn records generations read from Redis when the table's epoch was
// epoch, and returns the ones to use. Generations only grow, so the larger
// of what is known and what was read wins; a read that began before the
// table was forgotten is used once but not kept.
func (g *genTable) learn(epoch uint64, scope string, all, cust int64) (int64, int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.epoch.Load() != epoch {
		return all, cust
	}
	return g.raise(scope, all, cust)
}

// raise sets the generations to at least all and cust; g.mu is held.
func (g *genTable) raise(scope string, all, cust int64) (int64, int64) {
	all = max(all, g.all.Load())
	g.all.Store(all)
	if scope != "" {
		if c, ok := g.custs.GetIfPresent(scope); ok {
			cust = max(cust, c)
		}
		g.custs.Set(scope, cust)
	}
	return all, cust
}

// forget drops every generation: they are read from Redis again.
func (g *genTable) forget() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.epoch.Add(1)
	g.all.Store(-1)
	g.custs.InvalidateAll()
}

// notice applies a flush: scope "*" is a flush-all. A notice whose
// sequence skips one means some were missed: the table is forgotten.
func (g *genTable) notice(scope string, all, gen, seq int64) {
	g.mu.Lock()
	last := g.seq.Load()
	if seq > last {
		g.seq.Store(seq)
	}
	if last >= 0 && seq > last+1 {
		g.mu.Unlock()
		g.forget()
		return
	}
	if scope == "*" {
		g.raise("", gen, 0)
	} else {
		g.raise(scope, all, gen)
	}
	g.mu.Unlock()
}

// apply applies the result of this replica's own flush at once; its
// notice, arriving later, moves the sequence on.
func (g *genTable) apply(scope string, b cache.Bumped) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if scope == "" {
		g.raise("", b.All, 0)
		return
	}
	g.raise(scope, b.All, b.Gen)
}

// parseNotice reads "{scope} {all} {gen} {seq}".
func parseNotice(payload string) (scope string, all, gen, seq int64, ok bool) {
	f := strings.Fields(payload)
	if len(f) != 4 {
		return "", 0, 0, 0, false
	}
	var n [3]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return "", 0, 0, 0, false
		}
		n[i] = v
	}
	return f[0], n[0], n[1], n[2], true
}

// Run keeps this replica's in-process tier in step with the flushes of
// every replica until ctx ends. It listens to the flush notices (Redis
// pub/sub), so a flush anywhere reaches this replica at once; and once a
// second it reads the flush sequence, so that a notice lost while the
// subscription was down, or a Redis that lost its data, is noticed within
// a second. Without a shared store it returns nil at once; otherwise it
// returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := s.tiers
	if t.shared == nil {
		return nil
	}
	resync := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = t.shared.Subscribe(ctx, keys.FlushChannel(), func(payload string) {
			scope, all, gen, seq, ok := parseNotice(payload)
			if !ok {
				s.log.Warn("ignoring a malformed flush notice")
				return
			}
			t.gens.notice(scope, all, gen, seq)
		}, func() {
			select {
			case resync <- struct{}{}:
			default:
			}
		})
	})
	defer wg.Wait()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-resync:
		}
		s.resync(ctx)
	}
}

// resync compares the flush sequence in Redis with the last one heard of:
// ahead means notices were missed (the generations are read again); behind
// means Redis lost its data (the in-process tier is dropped as well).
func (s *Service) resync(ctx context.Context) {
	t := s.tiers
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	v, err := t.shared.Ints(ctx, keys.GenSeq())
	if err != nil {
		t.failed("resync", err)
		return
	}
	seq, last := v[0], t.gens.seq.Load()
	switch {
	case seq == last:
		return
	case seq < last:
		s.log.Warn("redis lost the flush sequence; dropping the in-process tier")
		if t.local != nil {
			t.local.Clear()
		}
		t.gens.forget()
	case last >= 0:
		t.gens.forget()
	}
	t.gens.seq.Store(seq)
}
