package cache

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// How a flush works. Everything about it is in this file.
//
//  1. Generations. Every entry is stored under the generations of its
//     scope: the flush-all generation and, for a key of a customer, that of
//     its family of the customer's answers (keys.go). In Redis the
//     generations are part of the key (Keys.Generation); in the Memory
//     tier the entry is stamped with them (tiers.go). A generation is a
//     random 64-bit token (Keys.GenAll, Keys.GenScope). A read finds an
//     entry only under the current generations. Without Redis (one
//     replica) the tokens live in this process alone; the rest of this
//     comment is about several replicas sharing Redis.
//  2. A flush replaces tokens by new random ones, in one script on one
//     Redis Cluster hash slot (keys.go): Redis.Retire for everything, in
//     "{gen}"'s slot; Redis.RetireScopes for a customer's, in the slot of
//     the customer's shard (Keys.Shard), where its generations, their
//     counts and the shard's flush sequence are. Every entry stored under
//     an old token becomes unreachable at once, on every replica, without
//     scanning the keyspace; the old entries expire by themselves. The
//     script also counts the keys written under each old generation (a
//     HyperLogLog that every write adds to), increments its flush
//     sequence (Keys.GenSeq for everything, Keys.ShardSeq for a
//     customer's shard) and announces each retired generation on pub/sub
//     (Keys.FlushChannel) with the flush-all token before and after it,
//     the sequence and its number there. A customer's flush does not read
//     the flush-all token, which is in another slot: it names the one the
//     flushing replica's table knows, which its count and notices go by.
//     The table learns it on the first read or once-a-second check; in
//     the second after a replica starts or forgets its table it may know
//     none (0): the flush retires all the same, but counts nothing in
//     Redis (section 7).
//  3. Each replica keeps the tokens it read in a table (genTable), so that
//     a hit in its Memory tier costs no round trip to Redis. The table is
//     used only while the replica hears every flush: Run listens to the
//     notices and applies each one at once; while the subscription is down
//     the table is set aside, and every read asks Redis for the tokens. A
//     missed notice shows as a gap in its sequence (the table keeps the
//     last number heard of in each of the Shards+1); Run also compares
//     every sequence and the flush-all token with Redis's once a second
//     (one MGET; on a cluster one GET per key, pipelined per node). Either
//     way the table is forgotten and read again.
//  4. Data loss: Redis restarts without persistence, someone runs
//     FLUSHALL, or it fails over to an empty replica. The tokens are gone,
//     and the next replica to read them sets new random ones
//     (Redis.Generations), which no entry carries: everything cached
//     before the loss is unreachable, on every replica, as if flushed. A
//     replica notices that the flush-all token it knew is no longer
//     Redis's (in the next read, notice or once-a-second check) and
//     forgets its table. A restarted sequence cannot fool it for longer
//     than that second: a notice names the flush-all token it followed,
//     and the check sees the sequence go back. On a cluster, a node that
//     lost a shard's slot lost its generations too: the next read sets
//     new ones, and the check sees that shard's sequence go back.
//  5. A flush is never silently ignored: it either sets a token that no
//     entry carries, or fails (Redis unreachable: the admin gets 503). A
//     replica that cannot reach Redis serves what its Memory tier holds
//     under the last generations it knew; no flush can succeed meanwhile,
//     unless the network splits the replicas from each other but not all
//     from Redis.
//  6. A fill reads the generations when it starts and stores what it built
//     under them (Cache.fill): a flush during the build retires it too.
//  7. What Flush reports (flushed): the keys written under the retired
//     generations, or, when more, the entries of the scope that this
//     replica's Memory tier dropped (after a data loss Redis has counted
//     nothing, but the replicas still held answers; a customer's flush
//     by a replica that knows no flush-all token, section 2, counts
//     nothing in Redis either). Retire, which the
//     ERP's change announcements call, counts nothing and drops nothing:
//     it costs one round trip whatever the cache holds.

// Scope is what a flush retires: All, every answer of a customer
// (Customer), or one family of them (Family).
type Scope struct {
	all        bool
	customerNo string
	family     string // "": every family
}

// All is every entry the gateway cached: answers, records and stock.
var All = Scope{all: true}

// Customer is every answer of customerNo.
func Customer(customerNo string) Scope { return Scope{customerNo: customerNo} }

// Family is one family of customerNo's answers (FamilyOrders,
// FamilyInvoices...).
func Family(customerNo, family string) Scope { return Scope{customerNo: customerNo, family: family} }

// prefix is the key prefix of s's entries.
func (s Scope) prefix() string {
	switch {
	case s.all:
		return Keys{}.AllPrefix()
	case s.family == "":
		return Keys{}.CustomerPrefix(s.customerNo)
	}
	return Keys{}.FamilyPrefix(s.customerNo, s.family)
}

// notes are the scopes of s's generations, as announced ("*" for all).
func (s Scope) notes() []string {
	switch {
	case s.all:
		return []string{"*"}
	case s.family != "":
		return []string{Keys{}.FamilyScope(s.customerNo, s.family)}
	}
	out := make([]string, len(families))
	for i, f := range families {
		out[i] = Keys{}.FamilyScope(s.customerNo, f)
	}
	return out
}

// Flush retires every entry of scope, on every replica, and returns how
// many it retired (section 7 above). It returns an error wrapping
// ErrUnavailable when Redis cannot be reached; this replica's Memory tier
// has dropped the scope's entries even then.
func (c *Cache) Flush(ctx context.Context, s Scope) (int, error) {
	dropped, _ := c.mem.DeletePrefix(ctx, s.prefix()) // never fails
	n, err := c.retire(ctx, s)
	if err != nil {
		return 0, err
	}
	return max(n, dropped), nil
}

// Retire retires every entry of scope, on every replica, at the cost of
// one round trip to Redis (none without Redis): for the announcements of
// changes in the ERP, which may come by the thousand. It returns an error
// wrapping ErrUnavailable when Redis cannot be reached.
func (c *Cache) Retire(ctx context.Context, s Scope) error {
	_, err := c.retire(ctx, s)
	return err
}

// retire replaces the generations of s by new tokens, and returns how many
// keys Redis counted under the old ones.
func (c *Cache) retire(ctx context.Context, s Scope) (int, error) {
	notes := s.notes()
	ns := make([]notice, len(notes))
	for i, note := range notes {
		ns[i] = notice{scope: note, token: newToken()}
	}
	if c.redis == nil {
		for _, n := range ns {
			n.was = c.gens.start("").all
			n.all = n.was
			if n.scope == "*" {
				n.all = n.token
			}
			c.gens.apply(n, false)
		}
		return 0, nil
	}
	rs := make([]Retirement, len(ns))
	for i, n := range ns {
		rs[i] = Retirement{Gen: Keys{}.GenScope(n.scope), Note: n.scope, Token: n.token}
		if n.scope == "*" {
			rs[i].Gen = Keys{}.GenAll()
		}
	}
	var r Retired
	var err error
	if s.all {
		r, err = c.redis.Retire(ctx, Keys{}.GenAll(), Keys{}.GenSeq(), Keys{}.Counted(""), Keys{}.FlushChannel(), newToken(), rs...)
	} else {
		// One customer's scopes: their generations, counts and sequence
		// are in the slot of the customer's shard. The flush-all
		// generation is in another slot: the flush names the one this
		// replica's table knows (Redis's while it hears every flush), and
		// never reads it, so that it touches one slot.
		all, _ := c.gens.lastKnown("")
		shard := Keys{}.Shard(notes[0])
		r, err = c.redis.RetireScopes(ctx, Keys{}.ShardSeq(shard), Keys{}.Counted(notes[0]), Keys{}.FlushChannel(), all.all, strconv.Itoa(shard), rs...)
	}
	c.health.observe("flush", err)
	if err != nil {
		return 0, fmt.Errorf("cache: flush: %w", err)
	}
	// This replica applies its own flush now; the notices, when they
	// come, move the sequence on.
	for _, n := range ns {
		n.was, n.all = r.Was, r.Was // 0 for a customer's when none was known
		if n.scope == "*" {
			n.all = n.token
		}
		c.gens.apply(n, false)
	}
	return int(r.Count), nil
}

// gens are the generations an entry is stored under: the flush-all token,
// and its customer's (0 for a key of no customer). The zero value stamps
// entries written while the generations could not be known (Redis
// unreachable), and every entry when there is no Redis.
type gens struct{ all, scope uint64 }

// newToken returns a random generation token (never 0).
func newToken() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
		if t := binary.BigEndian.Uint64(b[:]); t != 0 {
			return t
		}
	}
}

// counted names the HyperLogLogs a key of scope written under g is added
// to: the flush-all generation's, and its customer's when it has one.
func counted(scope string, g gens) []string {
	all := Keys{}.Counted("") + formatToken(g.all)
	if g.scope == 0 || scope == "" {
		return []string{all}
	}
	return []string{all, Keys{}.Counted(scope) + formatToken(g.all) + "." + formatToken(g.scope)}
}

// generations returns the generations of scope ("" for a key of no
// customer): from the table while it hears every flush, or else from Redis
// (one round trip shared by concurrent readers), or else, while Redis is
// unreachable, the last ones the table knew. ok is false when none are
// known. Without Redis the table holds them all.
func (c *Cache) generations(ctx context.Context, scope string) (gens, bool) {
	if g, ok := c.gens.get(scope); ok {
		return g, true
	}
	if c.redis == nil {
		// One replica: its table is where generations start.
		return c.gens.start(scope), true
	}
	if !c.health.usable() {
		return c.gens.lastKnown(scope)
	}
	v, err, _ := c.learning.Do(scope, func() (any, error) {
		version := c.gens.version.Load()
		ks := []string{Keys{}.GenAll()}
		if scope != "" {
			ks = append(ks, Keys{}.GenScope(scope))
		}
		t, err := c.redis.Generations(context.WithoutCancel(ctx), [2]uint64{newToken(), newToken()}, ks...)
		c.health.observe("generations", err)
		if err != nil {
			return nil, err
		}
		g := gens{all: t[0], scope: t[1]}
		c.gens.learn(version, scope, g)
		return g, nil
	})
	if err != nil {
		return c.gens.lastKnown(scope)
	}
	return v.(gens), true
}

// Run keeps this replica in step with the flushes of every replica until
// ctx ends (section 3 above): it listens to the flush notices, and once a
// second it checks the flush sequence and the flush-all token against
// Redis, which is also the heartbeat of Redis's health (health.go), and
// reads how far the change announcements have come (Confirm).
// Without Redis it returns nil at once; otherwise it returns nil when ctx
// ends.
func (c *Cache) Run(ctx context.Context) error {
	if c.redis == nil {
		return nil
	}
	check := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = c.redis.Subscribe(ctx, Keys{}.FlushChannel(), func(payload string) {
			n, ok := parseNotice(payload)
			if !ok {
				c.log.Warn("ignoring a malformed flush notice")
				return
			}
			c.gens.apply(n, true)
		}, func() {
			c.gens.subscribed()
			select {
			case check <- struct{}{}:
			default:
			}
		}, c.gens.lost)
	})
	defer wg.Wait()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-check:
		}
		c.check(ctx)
	}
}

// check compares the flush sequences and the flush-all token in Redis with
// the table's, and forgets the table when they differ: a notice was
// missed, or Redis lost its data. It reads Keys.GenAll, Keys.Feed,
// Keys.GenSeq and every Keys.ShardSeq: one MGET on one Redis; on a
// cluster one GET per key, pipelined (each node is sent its own at once).
func (c *Cache) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	version := c.gens.version.Load()
	v, err := c.redis.GetMany(ctx, checkKeys...)
	c.health.observe("heartbeat", err)
	if err != nil {
		return
	}
	all, _ := parseToken(string(v[0])) // 0: none (Redis lost its data)
	if f, ok := parseFeed(string(v[1])); ok {
		c.setFeed(Feed{From: time.UnixMilli(f[0]), Through: time.UnixMilli(f[1])}) // another replica's sweep
	}
	var seqs [Shards + 1]int64
	for i, b := range v[2:] {
		seqs[i], _ = strconv.ParseInt(string(b), 10, 64) // 0: no flush yet
	}
	if c.gens.check(version, all, &seqs) {
		c.log.Info("missed a flush notice, or redis lost its data; reading the generations again")
	}
}

// checkKeys are the keys check reads: the flush-all generation, the feed,
// then the sequences, indexed as genTable.seqs.
var checkKeys = func() []string {
	ks := []string{Keys{}.GenAll(), Keys{}.Feed()}
	for n := range Shards {
		ks = append(ks, Keys{}.ShardSeq(n))
	}
	return append(ks, Keys{}.GenSeq())
}()

// genSeq is the index in genTable.seqs of the flush-all sequence
// (Keys.GenSeq); a shard's (Keys.ShardSeq) is the shard.
const genSeq = Shards

// genTable is a replica's copy of the generations in Redis: the flush-all
// token, and those of the customers it served lately. While the
// subscription is up (live), every flush is applied to it, and it stands
// for Redis; while it is down, it only remembers what was last known,
// which serves while Redis is unreachable: an entry stored under older
// generations was flushed. Reads take no lock; writes are serialised by
// mu.
type genTable struct {
	mu sync.Mutex
	// version moves with every change: a read from Redis that began
	// before one is used for its request, but not kept.
	version atomic.Uint64
	live    atomic.Bool
	all     atomic.Uint64 // 0: not known
	// seqs are the last flush heard of in each sequence (genSeq, the
	// shards'); -1: not known.
	seqs   [Shards + 1]atomic.Int64
	scopes *otter.Cache[string, uint64]
}

// maxGenScopes bounds how many customers' generations a replica keeps; a
// forgotten one is read from Redis again on its next request.
const maxGenScopes = 1 << 17

func newGenTable() *genTable {
	t := &genTable{scopes: otter.Must(&otter.Options[string, uint64]{MaximumSize: maxGenScopes})}
	t.forgetSeqs()
	return t
}

// start returns the generations of scope, making up tokens for those the
// table does not know: without Redis, this process is where they begin.
func (t *genTable) start(scope string) gens {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.all.Load() == 0 {
		t.all.Store(newToken())
	}
	g := gens{all: t.all.Load()}
	if scope == "" {
		return g
	}
	s, ok := t.scopes.GetIfPresent(scope)
	if !ok {
		s = newToken()
		t.scopes.Set(scope, s)
	}
	g.scope = s
	return g
}

// get returns the generations of scope when the table knows them and
// stands for Redis (live).
func (t *genTable) get(scope string) (gens, bool) {
	if !t.live.Load() {
		return gens{}, false
	}
	return t.lastKnown(scope)
}

// lastKnown returns the generations of scope the table knows, live or
// not.
func (t *genTable) lastKnown(scope string) (gens, bool) {
	all := t.all.Load()
	if all == 0 {
		return gens{}, false
	}
	if scope == "" {
		return gens{all: all}, true
	}
	s, ok := t.scopes.GetIfPresent(scope)
	return gens{all: all, scope: s}, ok
}

// learn keeps g, read from Redis for scope when the table's version was
// version. A flush-all token other than the known one means Redis lost its
// data (a flush-all would have been heard): the rest is forgotten.
func (t *genTable) learn(version uint64, scope string, g gens) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.version.Load() != version {
		return
	}
	if known := t.all.Load(); known != 0 && known != g.all {
		t.clear()
	}
	t.all.Store(g.all)
	if scope != "" {
		t.scopes.Set(scope, g.scope)
	}
}

// notice is one flush, as announced: the scope ("*" for all), the
// flush-all token before (was) and after (all) it (both 0 for a
// customer's flush by a replica that knew none), the scope's new token,
// the sequence it follows (genSeq or the customer's shard) and its number
// there.
type notice struct {
	scope           string
	was, all, token uint64
	shard           int
	seq             int64
}

// apply applies a flush: one heard on the channel, or this replica's own
// (heard false), which leaves the sequence to its notice.
func (t *genTable) apply(n notice, heard bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.version.Add(1)
	if heard {
		if last := t.seqs[n.shard].Swap(n.seq); last >= 0 && n.seq != last+1 {
			t.clear() // notices were missed
		}
	}
	if n.all == 0 {
		// A customer's flush by a replica that knew no flush-all token:
		// the sequences and check watch that one.
		t.scopes.Set(n.scope, n.token)
		return
	}
	if known := t.all.Load(); known != 0 && known != n.was && known != n.all {
		t.clear() // a flush-all was missed, or Redis lost its data
	}
	t.all.Store(n.all)
	if n.scope != "*" {
		t.scopes.Set(n.scope, n.token)
	}
}

// check forgets the table when Redis's flush-all token (all) or sequences
// (indexed as t.seqs) differ from its own, and reports whether it did;
// when it knew no flush-all token, it keeps Redis's. A check whose read
// began before another change (version) is left to the next.
func (t *genTable) check(version, all uint64, seqs *[Shards + 1]int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.version.Load() != version {
		return false
	}
	missed := false
	for i, seq := range seqs {
		if last := t.seqs[i].Swap(seq); last >= 0 && seq != last {
			missed = true
		}
	}
	known := t.all.Load()
	if missed || (known != 0 && all != known) {
		t.clear()
		return true
	}
	if known == 0 && all != 0 {
		// Known from now on, as if read by generations: a customer's
		// flush names it (retire).
		t.all.Store(all)
	}
	return false
}

// forgetSeqs sets every sequence as not known.
func (t *genTable) forgetSeqs() {
	for i := range t.seqs {
		t.seqs[i].Store(-1)
	}
}

// subscribed is told that the subscription is up: every flush from now on
// is heard, so the table starts afresh and may be used.
func (t *genTable) subscribed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	t.forgetSeqs()
	t.live.Store(true)
}

// lost is told that the subscription broke: flushes may go unheard, so
// the table stops standing for Redis until it is up again.
func (t *genTable) lost() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.version.Add(1)
	t.live.Store(false)
}

// clear forgets every generation; t.mu is held.
func (t *genTable) clear() {
	t.version.Add(1)
	t.all.Store(0)
	t.scopes.InvalidateAll()
}

// parseNotice reads "{scope} {was} {all} {token} {shard} {seq}", tokens in
// hex, shard "g" for the flush-all sequence (Keys.GenSeq) or a shard's
// number (Keys.ShardSeq).
func parseNotice(payload string) (notice, bool) {
	f := strings.Fields(payload)
	if len(f) != 6 {
		return notice{}, false
	}
	var n notice
	var err [5]error
	n.scope = f[0]
	n.was, err[0] = parseMaybeToken(f[1])
	n.all, err[1] = parseMaybeToken(f[2])
	n.token, err[2] = parseToken(f[3])
	n.shard = genSeq
	if f[4] != "g" {
		n.shard, err[3] = strconv.Atoi(f[4])
		if err[3] == nil && (n.shard < 0 || n.shard >= Shards) {
			err[3] = fmt.Errorf("no shard %d", n.shard)
		}
	}
	n.seq, err[4] = strconv.ParseInt(f[5], 10, 64)
	if (n.was == 0) != (n.all == 0) || n.all == 0 && n.scope == "*" {
		return notice{}, false
	}
	return n, err == [5]error{}
}

// parseMaybeToken reads a token, or "0" for none.
func parseMaybeToken(s string) (uint64, error) {
	if s == "0" {
		return 0, nil
	}
	return parseToken(s)
}
