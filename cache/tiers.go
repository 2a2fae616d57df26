package cache

import (
	"context"
	"encoding/binary"
	"slices"
	"time"
)

// The two tiers: every entry is kept in the Memory tier of the replica
// that read or wrote it, and, with Redis, in Redis under its generations
// (flush.go), where every replica finds it.
//
// Bytes as stored: in Redis, the build time (8 bytes, Unix nanoseconds)
// then the body; in Memory, the generations the entry was stored under (16
// bytes) then the same.

// Where an entry was found, as Outcome.Tier says.
const (
	TierMemory = "memory" // this replica's Memory tier
	TierRedis  = "redis"  // Redis, shared by the replicas
)

// found is what a lookup found under one key: nothing when tier is "".
type found struct {
	Entry
	tier string
}

// lookup reads key from the tiers: from Memory when it holds the entry
// under the current generations (or under any, while they cannot be known),
// else from Redis, keeping a copy in Memory for as long as keep after its
// build time. A failure of Redis counts as a miss.
func (c *Cache) lookup(ctx context.Context, key string, keep time.Duration) found {
	g, known := c.generations(ctx, Keys{}.Scope(key))
	if f, ok := c.fromMemory(ctx, key, g, known); ok {
		return f
	}
	if c.redis == nil || !known || !c.health.usable() {
		return found{}
	}
	// Concurrent reads of one key share one round trip.
	gkey := Keys{}.Generation(key, g.all, g.scope)
	v, err, _ := c.reading.Do(gkey, func() (any, error) {
		b, ok, err := c.redis.Get(context.WithoutCancel(ctx), gkey)
		c.health.observe("get", err)
		if err != nil || !ok {
			return nil, err
		}
		c.keepInMemory(ctx, key, g, b, keep)
		return b, nil
	})
	if err != nil {
		return found{}
	}
	b, _ := v.([]byte)
	if e, ok := decodeEntry(b); ok {
		return found{e, TierRedis}
	}
	return found{}
}

// lookupMany is lookup of several keys, with one round trip to Redis for
// all that Memory does not hold.
func (c *Cache) lookupMany(ctx context.Context, keys []string, keep time.Duration) []found {
	fs := make([]found, len(keys))
	gs, known := c.snapshot(ctx, keys)
	var ask []int // indexes to read from Redis
	for i, k := range keys {
		if f, ok := c.fromMemory(ctx, k, gs[i], known[i]); ok {
			fs[i] = f
		} else if c.redis != nil && known[i] {
			ask = append(ask, i)
		}
	}
	if len(ask) == 0 || !c.health.usable() {
		return fs
	}
	gkeys := make([]string, len(ask))
	for j, i := range ask {
		gkeys[j] = Keys{}.Generation(keys[i], gs[i].all, gs[i].scope)
	}
	vals, err := c.redis.GetMany(ctx, gkeys...)
	c.health.observe("get", err)
	if err != nil {
		return fs
	}
	for j, i := range ask {
		if e, ok := decodeEntry(vals[j]); ok {
			fs[i] = found{e, TierRedis}
			c.keepInMemory(ctx, keys[i], gs[i], vals[j], keep)
		}
	}
	return fs
}

// snapshot returns the generations of each key now, and whether each is
// known; keys of one scope (the usual case) cost one reading.
func (c *Cache) snapshot(ctx context.Context, keys []string) ([]gens, []bool) {
	gs, known := make([]gens, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		scope := Keys{}.Scope(k)
		if i > 0 && scope == (Keys{}).Scope(keys[i-1]) {
			gs[i], known[i] = gs[i-1], known[i-1]
			continue
		}
		gs[i], known[i] = c.generations(ctx, scope)
	}
	return gs, known
}

// fromMemory returns the Memory tier's entry under key, if it was stored
// under g (or g is not known).
func (c *Cache) fromMemory(ctx context.Context, key string, g gens, known bool) (found, bool) {
	b, ok, _ := c.mem.Get(ctx, key)
	if !ok || len(b) < 16 {
		return found{}, false
	}
	stamp := gens{all: binary.BigEndian.Uint64(b), scope: binary.BigEndian.Uint64(b[8:])}
	if known && stamp != g {
		return found{}, false
	}
	e, ok := decodeEntry(b[16:])
	return found{e, TierMemory}, ok
}

// keepInMemory copies b, an entry as Redis holds it, into the Memory tier,
// stamped with g, until keep after its build time.
func (c *Cache) keepInMemory(ctx context.Context, key string, g gens, b []byte, keep time.Duration) {
	e, ok := decodeEntry(b)
	if !ok {
		return
	}
	ttl := e.Built.Add(keep).Sub(c.now())
	if ttl <= 0 {
		return
	}
	v := make([]byte, 16+len(b))
	binary.BigEndian.PutUint64(v, g.all)
	binary.BigEndian.PutUint64(v[8:], g.scope)
	copy(v[16:], b)
	_ = c.mem.Set(ctx, key, v, ttl) // never fails
}

// write is one entry to store: its key, the generations it was built
// under (known: they could be read) and its bytes as Redis holds them.
type write struct {
	key   string
	g     gens
	known bool
	val   []byte
}

// store keeps ws in Memory, and in Redis those whose generations are
// known, in one round trip; it reports whether Redis kept them (true
// without Redis). An entry whose generations are not known is stamped 0 in
// Memory: served while Redis is away, never once it is back.
func (c *Cache) store(ctx context.Context, ttl time.Duration, ws ...write) bool {
	items := make([]Item, 0, len(ws))
	for _, w := range ws {
		c.keepInMemory(ctx, w.key, w.g, w.val, ttl)
		if w.known && c.redis != nil {
			items = append(items, Item{Key: Keys{}.Generation(w.key, w.g.all, w.g.scope), Val: w.val, Counted: counted(Keys{}.Scope(w.key), w.g)})
		}
	}
	if c.redis == nil {
		return true
	}
	if len(items) < len(ws) || !c.health.usable() {
		return false
	}
	err := c.redis.SetCounted(ctx, ttl, items...)
	c.health.observe("set", err)
	return err == nil
}

// lockTTL is how long a fill's lock lives: the fill's budget, and a
// margin for storing what it built. A holder that dies keeps the others
// waiting at most this long.
func (c *Cache) lockTTL() time.Duration { return c.budget + time.Second }

// coalesceReplicas makes one replica fill keys while the others wait for
// its entries, with a short lock in Redis. done: the entries are in f
// (another replica stored them); else the caller builds them, and calls
// unlock once they are stored. Without Redis, or generations, or when the
// holder fails, every replica builds its own.
func (c *Cache) coalesceReplicas(ctx context.Context, kind Kind, keys []string, gs []gens, known []bool) (unlock func(), f filled, done bool) {
	unlock = func() {}
	if c.redis == nil || slices.Contains(known, false) || !c.health.usable() {
		return unlock, filled{}, false
	}
	gkeys := make([]string, len(keys))
	for i, k := range keys {
		gkeys[i] = Keys{}.Generation(k, gs[i].all, gs[i].scope)
	}
	lock := Keys{}.Lock(gkeys...)
	token, err := c.redis.TryLock(ctx, lock, c.lockTTL())
	c.health.observe("lock", err)
	switch {
	case err != nil:
		return unlock, filled{}, false // build without the lock
	case token == "":
		// Another replica is filling them: wait for its entries.
		if f, ok := c.awaitReplica(ctx, kind, keys, gs, gkeys, lock); ok {
			c.stats.ReplicaWaits.Add(1)
			c.obs.Coalesced(kind.Name)
			return unlock, f, true
		}
		return unlock, filled{}, false // it failed or died: build here
	}
	unlock = func() {
		uctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c.health.observe("unlock", c.redis.Unlock(uctx, lock, token))
	}
	// Another replica may have stored them just before the lock was taken.
	if f, ok := c.freshInRedis(ctx, kind, keys, gs, gkeys); ok {
		unlock()
		return func() {}, f, true
	}
	return unlock, filled{}, false
}

// awaitReplica waits for another replica's fill of keys: until they are
// all fresh in Redis (ok), or the lock is gone without them, or the lock's
// lifetime has passed (not ok: build them here).
func (c *Cache) awaitReplica(ctx context.Context, kind Kind, keys []string, gs []gens, gkeys []string, lock string) (filled, bool) {
	deadline := time.Now().Add(c.lockTTL())
	wait := time.Millisecond
	for time.Now().Before(deadline) {
		time.Sleep(wait)
		wait = min(wait*2, 5*time.Millisecond)
		if f, ok := c.freshInRedis(ctx, kind, keys, gs, gkeys); ok {
			f.replica = true
			return f, true
		}
		held, err := c.redis.Exists(ctx, lock)
		c.health.observe("lock wait", err)
		if err != nil {
			return filled{}, false
		}
		if !held {
			// The holder stores before it unlocks: look once more.
			f, ok := c.freshInRedis(ctx, kind, keys, gs, gkeys)
			f.replica = true
			return f, ok
		}
	}
	return filled{}, false
}

// freshInRedis reads keys from Redis (under gkeys) and returns them when
// every one is there and fresh, keeping copies in Memory.
func (c *Cache) freshInRedis(ctx context.Context, kind Kind, keys []string, gs []gens, gkeys []string) (filled, bool) {
	vals, err := c.redis.GetMany(ctx, gkeys...)
	c.health.observe("get", err)
	if err != nil {
		return filled{}, false
	}
	f := filled{ents: make(map[string]Entry, len(keys)), built: c.now(), stored: true}
	for i, b := range vals {
		e, ok := decodeEntry(b)
		if !ok || c.now().Sub(e.Built) >= kind.TTL {
			return filled{}, false
		}
		f.ents[keys[i]] = e
		if e.Built.Before(f.built) {
			f.built = e.Built
		}
	}
	for i, b := range vals {
		c.keepInMemory(ctx, keys[i], gs[i], b, c.lifetime(kind))
	}
	return f, true
}

// lastChance bounds the read of a stale entry after a failed fill.
const lastChance = 250 * time.Millisecond

// lastChanceRead reads key from Redis even while its health says to leave
// it alone: stale-if-error's last resort when the first lookup found
// nothing, perhaps only because Redis was busy or briefly away.
func (c *Cache) lastChanceRead(ctx context.Context, key string) (Entry, bool) {
	if c.redis == nil {
		return Entry{}, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastChance)
	defer cancel()
	scope := Keys{}.Scope(key)
	ks := []string{Keys{}.GenAll()}
	if scope != "" {
		ks = append(ks, Keys{}.GenScope(scope))
	}
	t, err := c.redis.Generations(ctx, [2]uint64{newToken(), newToken()}, ks...)
	if err != nil {
		return Entry{}, false
	}
	b, ok, err := c.redis.Get(ctx, Keys{}.Generation(key, t[0], t[1]))
	if err != nil || !ok {
		return Entry{}, false
	}
	return decodeEntry(b)
}

// decodeEntry splits what encodeEntry made.
func decodeEntry(b []byte) (Entry, bool) {
	if len(b) < 8 {
		return Entry{}, false
	}
	return Entry{Built: time.Unix(0, int64(binary.BigEndian.Uint64(b))), Body: b[8:]}, true // #nosec G115 -- the bit pattern of a UnixNano written by encodeEntry
}

// encodeEntry prefixes body with the time it was built.
func encodeEntry(built time.Time, body []byte) []byte {
	b := make([]byte, 8+len(body))
	binary.BigEndian.PutUint64(b, uint64(built.UnixNano())) // #nosec G115 -- bit pattern, read back as int64
	copy(b[8:], body)
	return b
}
