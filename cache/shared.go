package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// What replicas that share one Redis need beyond bytes: short locks (so one
// replica fills a key while the others wait), generations and flush
// notices (flush.go). Like the rest of [Redis], every key and channel is
// prefixed, and errors wrap [ErrUnavailable] when Redis cannot be reached.
//
// On a Redis Cluster every script below touches the keys of one hash
// slot only (keys.go: what a customer's flush touches carries its shard's
// tag, the flush-all generation and its sequence "{gen}"); reads of keys
// of several slots are pipelined, one command per key.

// unlockScript deletes a lock only while it still holds the caller's token,
// so a holder whose lock expired never removes the next holder's (the
// single-instance pattern of https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// retireScript retires generations, all atomically. KEYS[1] holds the
// flush-all generation, KEYS[2] the flush sequence, KEYS[3..] the
// generations retired (KEYS[1] itself for a flush-all). ARGV: [1] the
// notice channel, [2] the prefix of the HyperLogLogs (Keys.Counted, with
// the store's prefix), [3] a token for KEYS[1] should it be missing, then
// for each retired generation its scope as announced ("*" for all) and
// its new token.
//
// For each, it counts the keys written under the old generation (PFCOUNT,
// then the HyperLogLog is deleted), sets the new token, increments the
// sequence, and publishes "{scope} {was} {all} {token} g {seq}": was is the
// flush-all generation before, all the one after, g names the sequence. It returns {was, all,
// seq, count}: the flush-all generation before the first and after the
// last, the last sequence, and the count of all.
var retireScript = redis.NewScript(`
local was = redis.call("GET", KEYS[1])
if not was then
	was = ARGV[3]
	redis.call("SET", KEYS[1], was)
end
local all, seq, n = was, 0, 0
for i = 3, #KEYS do
	local note, token = ARGV[2 * i - 2], ARGV[2 * i - 1]
	local counted
	if KEYS[i] == KEYS[1] then
		counted = ARGV[2] .. all
	else
		local old = redis.call("GET", KEYS[i])
		if old then counted = ARGV[2] .. all .. "." .. old end
	end
	if counted then
		n = n + redis.call("PFCOUNT", counted)
		redis.call("DEL", counted)
	end
	redis.call("SET", KEYS[i], token)
	local before = all
	if KEYS[i] == KEYS[1] then all = token end
	seq = redis.call("INCR", KEYS[2])
	redis.call("PUBLISH", ARGV[1], note .. " " .. before .. " " .. all .. " " .. token .. " g " .. seq)
end
return {was, all, tostring(seq), tostring(n)}`)

// retireScopesScript retires generations of one customer's scopes, all
// in the slot of the customer's shard (keys.go). KEYS: [1] the shard's
// flush sequence, then the generations. ARGV: [1] the notice channel, [2]
// the prefix of the customer's HyperLogLogs (Keys.Counted of the scope,
// with the store's prefix), [3] the flush-all generation the flushing
// replica knows ("0": none), [4] the shard as announced, then for each
// generation its scope as announced and its new token. For each it counts
// the keys written under the old generation and the flush-all generation
// of ARGV[3] (then deletes the HyperLogLog), sets the new token,
// increments the sequence and publishes
// "{scope} {all} {all} {token} {shard} {seq}". It returns {seq, count}:
// the last sequence and the count.
var retireScopesScript = redis.NewScript(`
local all, seq, n = ARGV[3], 0, 0
for i = 2, #KEYS do
	local note, token = ARGV[2 * i + 1], ARGV[2 * i + 2]
	local old = redis.call("GET", KEYS[i])
	if old and all ~= "0" then
		local counted = ARGV[2] .. all .. "." .. old
		n = n + redis.call("PFCOUNT", counted)
		redis.call("DEL", counted)
	end
	redis.call("SET", KEYS[i], token)
	seq = redis.call("INCR", KEYS[1])
	redis.call("PUBLISH", ARGV[1], note .. " " .. all .. " " .. all .. " " .. token .. " " .. ARGV[4] .. " " .. seq)
end
return {tostring(seq), tostring(n)}`)

// feedScript extends the feed held in KEYS[1] ("{from} {through}", Unix
// milliseconds, which Lua's numbers hold exactly) with ARGV[1] to ARGV[2]: when ARGV[1] is not after the
// feed's through, the feed reaches the later through (and the earlier
// from); otherwise it starts again at ARGV[1]. It returns the feed.
var feedScript = redis.NewScript(`
local f, t = tonumber(ARGV[1]), tonumber(ARGV[2])
local cur = redis.call("GET", KEYS[1])
if cur then
	local cf, ct = string.match(cur, "^(%d+) (%d+)$")
	cf, ct = tonumber(cf), tonumber(ct)
	if cf and ct and f <= ct then
		f, t = math.min(f, cf), math.max(t, ct)
	end
end
redis.call("SET", KEYS[1], string.format("%d %d", f, t))
return {tostring(f), tostring(t)}`)

// TryLock takes the lock key for ttl (SET NX PX with a random token) and
// returns the token, or "" when another holder has it. Release it with
// [Redis.Unlock]; a holder that dies leaves it to expire after ttl.
func (r *Redis) TryLock(ctx context.Context, key string, ttl time.Duration) (string, error) {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	token := hex.EncodeToString(b)
	ok, err := r.rdb.SetNX(ctx, r.prefix+key, token, max(ttl, time.Millisecond)).Result()
	if err != nil {
		return "", wrap(ctx, "lock", err)
	}
	if !ok {
		return "", nil
	}
	return token, nil
}

// Unlock releases the lock key if it still holds token (compare and delete,
// in one script).
func (r *Redis) Unlock(ctx context.Context, key, token string) error {
	if err := unlockScript.Run(ctx, r.rdb, []string{r.prefix + key}, token).Err(); err != nil {
		return wrap(ctx, "unlock", err)
	}
	return nil
}

// Exists reports whether key exists.
func (r *Redis) Exists(ctx context.Context, key string) (bool, error) {
	n, err := r.rdb.Exists(ctx, r.prefix+key).Result()
	if err != nil {
		return false, wrap(ctx, "exists", err)
	}
	return n > 0, nil
}

// GetMany reads keys in one round trip (MGET); a missing key's value is
// nil.
func (r *Redis) GetMany(ctx context.Context, keys ...string) ([][]byte, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	out := make([][]byte, len(keys))
	if _, ok := r.rdb.(*redis.ClusterClient); ok && len(keys) > 1 {
		// MGET must stay within one slot: one GET per key, pipelined
		// (go-redis sends each node its own in parallel).
		cmds, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range full {
				p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, wrap(ctx, "mget", err)
		}
		for i, c := range cmds {
			if b, err := c.(*redis.StringCmd).Bytes(); err == nil {
				out[i] = b
			}
		}
		return out, nil
	}
	vals, err := r.rdb.MGet(ctx, full...).Result()
	if err != nil {
		return nil, wrap(ctx, "mget", err)
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out, nil
}

// Item is one value for [Redis.SetCounted].
type Item struct {
	Key string
	Val []byte
	// Counted names the HyperLogLogs the key is added to.
	Counted []string
}

// SetCounted stores every item for ttl, like [Redis.Set], and adds each
// item's key to the HyperLogLogs its Counted names (kept at least as long
// as the entries), all in one round trip, so that a later [Redis.Retire]
// can tell how many distinct keys it retired.
func (r *Redis) SetCounted(ctx context.Context, ttl time.Duration, items ...Item) error {
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, it := range items {
			p.Set(ctx, r.prefix+it.Key, it.Val, ttl)
			for _, c := range it.Counted {
				p.PFAdd(ctx, r.prefix+c, it.Key)
				p.PExpire(ctx, r.prefix+c, ttl)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, "set", err)
	}
	return nil
}

// Generations returns the tokens held in keys (up to two: the flush-all
// generation, then a scope's) in one round trip (on a cluster, the two
// slots' nodes are asked in parallel). A key that is missing is set to the
// matching token of fresh first (SETNX then GET), so every token returned
// is one that Redis holds.
func (r *Redis) Generations(ctx context.Context, fresh [2]uint64, keys ...string) ([2]uint64, error) {
	var out [2]uint64
	if len(keys) == 0 || len(keys) > 2 {
		return out, errors.New("cache: generations: want one or two keys")
	}
	gets := make([]*redis.StringCmd, len(keys))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			p.SetNX(ctx, r.prefix+k, formatToken(fresh[i]), 0)
			gets[i] = p.Get(ctx, r.prefix+k)
		}
		return nil
	})
	if err != nil {
		return out, wrap(ctx, "generations", err)
	}
	for i, g := range gets {
		if out[i], err = parseToken(g.Val()); err != nil {
			return out, fmt.Errorf("cache: generations: %w", err)
		}
	}
	return out, nil
}

// Retired is what [Redis.Retire] did.
type Retired struct {
	Was   uint64 // the flush-all generation before
	All   uint64 // the flush-all generation after (Was, unless that one was retired)
	Seq   int64  // the flush sequence after
	Count int64  // distinct keys written under the retired generations (HyperLogLog estimates)
}

// Retirement is one generation for [Redis.Retire] to replace.
type Retirement struct {
	Gen   string // the key holding it
	Note  string // the scope as announced
	Token uint64 // the new token
}

// Retire replaces generations by new tokens, atomically with counting the
// keys written under the old ones (the HyperLogLogs under counted,
// Keys.Counted) and incrementing the flush sequence seq for each; all
// holds the flush-all generation (retire that one with Gen == all; a
// missing one is set to fresh). For each it publishes
// "{Note} {was} {all} {Token} g {seq}" on channel, tokens in hex. It is one
// script: on a Redis Cluster every key must be in all's slot, as for the
// flush-all (Keys.GenAll); a customer's scopes go through
// [Redis.RetireScopes].
func (r *Redis) Retire(ctx context.Context, all, seq, counted, channel string, fresh uint64, rs ...Retirement) (Retired, error) {
	keys := []string{r.prefix + all, r.prefix + seq}
	args := []any{r.prefix + channel, r.prefix + counted, formatToken(fresh)}
	for _, x := range rs {
		keys = append(keys, r.prefix+x.Gen)
		args = append(args, x.Note, formatToken(x.Token))
	}
	vals, err := retireScript.Run(ctx, r.rdb, keys, args...).StringSlice()
	if err != nil {
		return Retired{}, wrap(ctx, "retire", err)
	}
	if len(vals) != 4 {
		return Retired{}, errors.New("cache: retire: unexpected reply")
	}
	var out Retired
	var errs [4]error
	out.Was, errs[0] = parseToken(vals[0])
	out.All, errs[1] = parseToken(vals[1])
	out.Seq, errs[2] = strconv.ParseInt(vals[2], 10, 64)
	out.Count, errs[3] = strconv.ParseInt(vals[3], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return Retired{}, fmt.Errorf("cache: retire: %w", err)
	}
	return out, nil
}

// RetireScopes replaces generations of one customer's scopes by new
// tokens, like [Redis.Retire], in one script on one hash slot: seq is the
// flush sequence of the customer's shard (Keys.ShardSeq), and every
// rs[i].Gen and counted (Keys.Counted of the scope) are in its slot. The
// flush-all generation lives in another slot, so the caller names the one
// it knows (all, 0 when none): the keys counted are those written under
// it, and each notice, "{Note} {all} {all} {Token} {shard} {seq}" on
// channel, carries it. It returns Was and All set to all.
func (r *Redis) RetireScopes(ctx context.Context, seq, counted, channel string, all uint64, shard string, rs ...Retirement) (Retired, error) {
	if len(rs) == 0 {
		return Retired{}, errors.New("cache: retire: no generation to retire")
	}
	keys := make([]string, 0, 1+len(rs))
	keys = append(keys, r.prefix+seq)
	a := "0"
	if all != 0 {
		a = formatToken(all)
	}
	args := []any{r.prefix + channel, r.prefix + counted, a, shard}
	for _, x := range rs {
		keys = append(keys, r.prefix+x.Gen)
		args = append(args, x.Note, formatToken(x.Token))
	}
	vals, err := retireScopesScript.Run(ctx, r.rdb, keys, args...).StringSlice()
	if err != nil {
		return Retired{}, wrap(ctx, "retire", err)
	}
	if len(vals) != 2 {
		return Retired{}, errors.New("cache: retire: unexpected reply")
	}
	out := Retired{Was: all, All: all}
	var errs [2]error
	out.Seq, errs[0] = strconv.ParseInt(vals[0], 10, 64)
	out.Count, errs[1] = strconv.ParseInt(vals[1], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return Retired{}, fmt.Errorf("cache: retire: %w", err)
	}
	return out, nil
}

// ExtendFeed extends the feed held in key (feedScript) with from to
// through, and returns the feed as it is now; times in Unix milliseconds.
func (r *Redis) ExtendFeed(ctx context.Context, key string, from, through int64) ([2]int64, error) {
	vals, err := feedScript.Run(ctx, r.rdb, []string{r.prefix + key}, from, through).StringSlice()
	if err != nil {
		return [2]int64{}, wrap(ctx, "feed", err)
	}
	if len(vals) != 2 {
		return [2]int64{}, errors.New("cache: feed: unexpected reply")
	}
	f, ok := parseFeed(vals[0] + " " + vals[1])
	if !ok {
		return [2]int64{}, errors.New("cache: feed: unexpected reply")
	}
	return f, nil
}

// ReadFeed returns the feed held in key (Unix milliseconds), zero when
// there is none.
func (r *Redis) ReadFeed(ctx context.Context, key string) ([2]int64, error) {
	v, err := r.rdb.Get(ctx, r.prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return [2]int64{}, nil
	}
	if err != nil {
		return [2]int64{}, wrap(ctx, "feed", err)
	}
	f, _ := parseFeed(v)
	return f, nil
}

// parseFeed reads "{from} {through}".
func parseFeed(s string) ([2]int64, bool) {
	a, b, ok := strings.Cut(s, " ")
	if !ok {
		return [2]int64{}, false
	}
	from, err1 := strconv.ParseInt(a, 10, 64)
	through, err2 := strconv.ParseInt(b, 10, 64)
	return [2]int64{from, through}, err1 == nil && err2 == nil
}

// formatToken and parseToken write and read a generation token as Redis
// holds it: lower-case hex.
func formatToken(t uint64) string { return strconv.FormatUint(t, 16) }

func parseToken(s string) (uint64, error) {
	t, err := strconv.ParseUint(s, 16, 64)
	if err != nil || t == 0 {
		return 0, fmt.Errorf("generation %q is not a token", s)
	}
	return t, nil
}

// listenQuiet is how long a subscription may stay silent before it is
// pinged; a ping unanswered as long again counts as a broken connection.
const listenQuiet = 2 * time.Second

// Subscribe calls onMessage with the payload of every message published on
// channel until ctx ends; onSubscribed each time the subscription is
// (re)established, and onLost each time it breaks, since messages sent
// while it is down are lost. A connection that stays silent is pinged, so
// a Redis that vanished without closing it counts as lost within a few
// seconds. When Redis cannot be reached it retries, waiting up to a second
// between attempts. It returns nil when ctx ends. The callbacks run on
// Subscribe's goroutine.
func (r *Redis) Subscribe(ctx context.Context, channel string, onMessage func(payload string), onSubscribed, onLost func()) error {
	backoff := 50 * time.Millisecond
	for {
		if r.listen(ctx, channel, onMessage, onSubscribed) {
			onLost()
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// listen holds one subscription on one connection until it breaks or ctx
// ends, and reports whether it was established.
func (r *Redis) listen(ctx context.Context, channel string, onMessage func(string), onSubscribed func()) (established bool) {
	ps := r.rdb.Subscribe(ctx, r.prefix+channel)
	defer ps.Close()
	// Receive does not watch ctx: closing ps is what ends a blocked read.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, listenQuiet)
		var ne net.Error
		switch {
		case ctx.Err() != nil:
			return established
		case err != nil && errors.As(err, &ne) && ne.Timeout() && !pinged:
			pinged = true
			if ps.Ping(ctx) != nil {
				return established
			}
			continue
		case err != nil:
			return established
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				established = true
				onSubscribed()
			}
		case *redis.Message:
			onMessage(m.Payload)
		}
	}
}
