package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// What replicas that share one Redis need beyond bytes: short locks (so one
// replica fills a key while the others wait), counters (generations) and
// notices (pub/sub). Like the rest of [Redis], every key and channel is
// prefixed, and errors wrap [ErrUnavailable] when Redis cannot be reached.
//
// The scripts below touch several keys at once: on a Redis Cluster those
// keys must share a hash slot, which the gateway's key scheme does not
// arrange; use a single Redis (with replicas for failover) or a Ring.

// unlockScript deletes a lock only while it still holds the caller's token,
// so a holder whose lock expired never removes the next holder's (the
// single-instance pattern of https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// bumpScript counts the keys written since the last flush of a scope
// (PFCOUNT of KEYS[4], then deleted), increments the scope's generation
// KEYS[2] and the flush sequence KEYS[3], reads the flush-all generation
// KEYS[1] (KEYS[2] == KEYS[1] for a flush-all), and announces
// "{ARGV[2]} {all} {gen} {seq}" on channel ARGV[1], all atomically.
var bumpScript = redis.NewScript(`
local n = redis.call("PFCOUNT", KEYS[4])
redis.call("DEL", KEYS[4])
local gen = redis.call("INCR", KEYS[2])
local all = tonumber(redis.call("GET", KEYS[1]) or "0")
local seq = redis.call("INCR", KEYS[3])
redis.call("PUBLISH", ARGV[1], ARGV[2] .. " " .. all .. " " .. gen .. " " .. seq)
return {all, gen, seq, n}`)

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

// Ints reads integer counters in one round trip (MGET); a missing counter
// reads as 0.
func (r *Redis) Ints(ctx context.Context, keys ...string) ([]int64, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	vals, err := r.rdb.MGet(ctx, full...).Result()
	if err != nil {
		return nil, wrap(ctx, "mget", err)
	}
	out := make([]int64, len(vals))
	for i, v := range vals {
		s, _ := v.(string)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("cache: mget: counter %d is not an integer", i)
		}
		out[i] = n
	}
	return out, nil
}

// SetCounted is [Redis.Set] that also adds key to the HyperLogLog of each of
// counted (kept as long as the entry), in one round trip, so that a later
// [Redis.Bump] can tell how many distinct keys it retired.
func (r *Redis) SetCounted(ctx context.Context, key string, val []byte, ttl time.Duration, counted ...string) error {
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.prefix+key, val, ttl)
		for _, c := range counted {
			p.PFAdd(ctx, r.prefix+c, key)
			p.PExpire(ctx, r.prefix+c, ttl)
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, "set", err)
	}
	return nil
}

// Bumped is what [Redis.Bump] did.
type Bumped struct {
	All     int64 // the flush-all generation after the bump
	Gen     int64 // the bumped generation (== All for a flush-all)
	Seq     int64 // the flush sequence after the bump
	Retired int64 // distinct keys written since the scope's last flush (HyperLogLog estimate)
}

// Bump retires a generation atomically: it increments the counter gen and
// the flush sequence seq, counts and empties the HyperLogLog written,
// reads the flush-all generation all (pass gen == all to bump that one),
// and publishes "{note} {All} {Gen} {Seq}" on channel.
func (r *Redis) Bump(ctx context.Context, all, gen, seq, written, channel, note string) (Bumped, error) {
	keys := []string{r.prefix + all, r.prefix + gen, r.prefix + seq, r.prefix + written}
	vals, err := bumpScript.Run(ctx, r.rdb, keys, r.prefix+channel, note).Int64Slice()
	if err != nil {
		return Bumped{}, wrap(ctx, "bump", err)
	}
	if len(vals) != 4 {
		return Bumped{}, errors.New("cache: bump: unexpected reply")
	}
	return Bumped{All: vals[0], Gen: vals[1], Seq: vals[2], Retired: vals[3]}, nil
}

// Subscribe calls onMessage with the payload of every message published on
// channel until ctx ends, and onSubscribed each time the subscription is
// (re)established, since messages sent while it was down are lost. When
// Redis cannot be reached it retries, waiting up to a second between
// attempts. It returns nil when ctx ends. Both callbacks run on
// Subscribe's goroutine.
func (r *Redis) Subscribe(ctx context.Context, channel string, onMessage func(payload string), onSubscribed func()) error {
	ps := r.rdb.Subscribe(ctx, r.prefix+channel)
	// Receive does not watch ctx: closing ps is what ends a blocked read.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer func() {
		if stop() {
			ps.Close()
		}
	}()
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			// go-redis reconnects and subscribes again on the next Receive.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				onSubscribed()
			}
		case *redis.Message:
			onMessage(m.Payload)
		}
	}
}
