package cache_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
)

// TestFlushSlots: a customer's flush retires, counts and announces in one
// hash slot, that of the customer's shard (keys.go), and a flush of
// everything in "{gen}"'s alone. Nothing scans. Every command the
// flushing replica sends is recorded with the slots of its keys (CRC16 of
// the hash tag, as Redis Cluster computes it; on a cluster each slot is
// checked against CLUSTER KEYSLOT); an EVALSHA answered NOSCRIPT and the
// EVAL that follows it count as one. The other replica then misses the
// customer's answers (once it heard of the flush) and still hits another
// customer's.
func TestFlushSlots(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	rec := &recorder{prefix: prefix}
	rdb.AddHook(rec)
	cs := replicas(t, 2, rdb, prefix, &clock{t: start})
	e := &erp{version: 1}
	mine := []string{keys.Order("10001", "1"), keys.Invoice("10001", "d", "2"), keys.Addresses("10001"), keys.Price("10001", "P")}
	other := keys.Order("10002", "1")
	waitLive(t, cs[1], other, e)
	for _, k := range append(mine, other) {
		get(t, cs[0], k, e)
		get(t, cs[1], k, e)
	}

	ctx := context.WithValue(context.Background(), recordKey{}, true)
	n, err := cs[0].Flush(ctx, cache.Customer("10001"))
	if err != nil || n != len(mine) {
		t.Fatalf("Flush(10001) = %d, %v; want %d", n, err, len(mine))
	}
	scope := keys.FamilyScope("10001", cache.FamilyOrders)
	shard, gen := slot(prefix+keys.ShardSeq(keys.Shard(scope))), slot(prefix+keys.GenAll())
	if cachetest.Cluster(rdb) {
		for _, k := range []string{prefix + keys.GenScope(scope), prefix + keys.GenAll()} {
			if got, err := rdb.ClusterKeySlot(context.Background(), k).Result(); err != nil || got != int64(slot(k)) {
				t.Fatalf("CLUSTER KEYSLOT %s = %d, %v; the test computes %d", k, got, err, slot(k))
			}
		}
	}
	perSlot := map[int][]string{}
	for _, c := range sent(t, "customer flush", rec.take()) {
		for _, s := range c.slots {
			perSlot[s] = append(perSlot[s], c.name)
		}
	}
	if len(perSlot) != 1 || len(perSlot[shard]) != 1 {
		t.Errorf("the customer flush sent %v (slot: commands); want one command on its shard's slot (%d)", perSlot, shard)
	}
	// The other replica hears of the flush within milliseconds.
	for _, k := range mine {
		waitFor(t, k+" a miss on the other replica", func() bool {
			_, o := get(t, cs[1], k, e)
			return o.Result == cache.Miss
		})
	}
	if _, o := get(t, cs[1], other, e); o.Result != cache.Hit {
		t.Errorf("another customer on the other replica after the flush: %s, want a hit", o.Result)
	}

	if _, err := cs[0].Flush(ctx, cache.All); err != nil {
		t.Fatal(err)
	}
	all := sent(t, "flush of everything", rec.take())
	for _, c := range all {
		if len(c.slots) == 0 || slices.ContainsFunc(c.slots, func(s int) bool { return s != gen }) {
			t.Errorf("the flush of everything sent %s on slots %v; want {gen}'s (%d) alone", c.name, c.slots, gen)
		}
	}
	if len(all) != 1 {
		t.Errorf("the flush of everything sent %d commands, want 1", len(all))
	}
}

// sent logs cmds and returns them without the EVALSHAs answered NOSCRIPT
// (go-redis sends the EVAL right after: one script run), and fails the
// test on a scan.
func sent(t *testing.T, what string, cmds []command) []command {
	t.Helper()
	var out []command
	for _, c := range cmds {
		t.Logf("%s: %s on slots %v (%v)", what, c.name, c.slots, c.err)
		if c.name == "scan" || c.name == "keys" {
			t.Errorf("the %s sent %s", what, c.name)
		}
		if c.name == "evalsha" && c.err != nil && strings.HasPrefix(c.err.Error(), "NOSCRIPT") {
			continue
		}
		out = append(out, c)
	}
	return out
}

// recordKey marks the context of the commands recorder keeps.
type recordKey struct{}

// command is a command as recorder saw it: its name, the slots of its
// keys and (for a script) of the key prefixes its arguments name, and its
// error.
type command struct {
	name  string
	slots []int
	err   error
}

// recorder is a go-redis hook that keeps the commands sent with a context
// marked by recordKey, once answered. prefix starts every key the cache
// writes.
type recorder struct {
	prefix string
	mu     sync.Mutex
	cmds   []command
}

func (r *recorder) take() []command {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.cmds
	r.cmds = nil
	return out
}

func (r *recorder) keep(ctx context.Context, cmds ...redis.Cmder) {
	if ctx.Value(recordKey{}) == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cmds {
		r.cmds = append(r.cmds, command{name: c.Name(), slots: slotsOf(c, r.prefix), err: c.Err()})
	}
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error {
		err := next(ctx, c)
		r.keep(ctx, c)
		return err
	}
}

func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cs []redis.Cmder) error {
		err := next(ctx, cs)
		r.keep(ctx, cs...)
		return err
	}
}

// slotsOf returns the distinct slots of c's keys: for EVAL and EVALSHA its
// KEYS, and every argument that starts with prefix and holds a hash tag
// (the key prefixes a script builds keys from); for PUBLISH none (a
// channel is no key); else its first argument.
func slotsOf(c redis.Cmder, prefix string) []int {
	args := c.Args()
	var keys []string
	switch c.Name() {
	case "eval", "evalsha":
		n, _ := strconv.Atoi(fmt.Sprint(args[2]))
		for i, a := range args[3:] {
			if s := fmt.Sprint(a); i < n || strings.HasPrefix(s, prefix) && strings.Contains(s, "{") {
				keys = append(keys, s)
			}
		}
	case "publish", "ping", "subscribe":
	default:
		if len(args) > 1 {
			keys = append(keys, fmt.Sprint(args[1]))
		}
	}
	var out []int
	for _, k := range keys {
		if s := slot(k); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// slot is Redis Cluster's hash slot of key: CRC16 (XMODEM) of its hash
// tag, the text between its first '{' and the next '}' when not empty,
// else of the whole key, modulo 16384.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}
