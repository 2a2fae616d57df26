package erpguard

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/erp"
)

// The budget: how the calls of one Extend rate-limit group are let
// through. Extend allows N calls per window and counts them per window
// (EXTEND_RATE_LIMIT, "N/period"), so the budget is a sliding window log:
// at most N calls in any period, all at once if they come at once. A
// token bucket (golang.org/x/time/rate, go-redis/redis_rate's GCRA) cannot
// say that: a burst of N followed by its refill puts up to 2N calls into
// one of Extend's windows, and a smaller burst refuses the second cold
// list of a newcomer. Nor does either know classes or fair shares, which
// need the window's calls by class and by key; hence the few lines of Lua
// below (one round trip per call, atomic across replicas) and their
// in-process twin, localWindow, which decides while Redis is away.
//
// The rules, for a call of class c and fairness key k, with U calls of
// the window spent (I interactive, R refresh, B background):
//
//   - Interactive passes while U < N, less the part of the background
//     floor that background has not used (F-B) while background has work.
//   - Refresh passes while U < N - reserve (less the same): the reserve
//     is kept for callers who wait.
//   - Background passes while U < N - reserve - reserve/2, or, below its
//     floor (B < F), while U < N: it runs on what the others leave, and
//     the floor keeps the pushers moving when customers keep the ERP busy.
//   - Fair shares: a key that has spent its share of its class's limit,
//     limit/(other active keys + 2) but at least the minimum share, passes
//     only while more than one such share is still free. One customer or
//     one download link may use idle budget, but always leaves room for
//     the next caller.

// rules are a group's budget in calls of one window.
type rules struct {
	n, reserve, floor, minShare int
	per                         time.Duration
}

// newRules turns the settings into calls: reserve and floor are shares
// of n (0 to 1), scaled to replicas when the window is counted by each
// replica alone.
func newRules(n int, per time.Duration, reserve, floor float64, replicas int) rules {
	if replicas > 1 {
		n = max(1, n/replicas)
	}
	return rules{
		n:        n,
		reserve:  int(math.Ceil(float64(n) * reserve)),
		floor:    int(math.Ceil(float64(n) * floor)),
		minShare: max(1, n/10),
		per:      per,
	}
}

// limit is how many calls of the window may be spent when a call of class
// c passes; used[c] are the calls spent by class, bgWaiting whether
// background has work.
func (r rules) limit(c erp.Class, used [3]int, bgWaiting bool) int {
	held := 0
	if bgWaiting {
		held = max(0, r.floor-used[erp.Background])
	}
	var l int
	switch c {
	case erp.Interactive:
		l = r.n - held
	case erp.Refresh:
		l = r.n - r.reserve - held
	default:
		if used[erp.Background] < r.floor {
			l = r.n
		} else {
			l = r.n - r.reserve - r.reserve/2
		}
	}
	return max(l, 1)
}

// share is a key's fair share of limit with others other keys active.
func (r rules) share(limit, others int) int {
	return max((limit+others+1)/(others+2), r.minShare)
}

// decision is the budget's answer for one call.
type decision struct {
	ok     bool
	wait   time.Duration // when not ok: until the call may pass
	paused bool          // not ok because Extend asked us to wait
}

// bgLinger is how long background counts as having work after its last
// request for budget: the floor is held for it that long.
const bgLinger = 5 * time.Second

// takeScript is the Redis side of the budget; see the rules above and
// localWindow.take, which it mirrors.
//
// KEYS: 1 window (zset of calls: class..key.."\n"..uid, scored by ms),
// 2 counts (hash: u<class> calls, k<class><key> calls, a<class> active
// keys, w background's last request in ms), 3 pause, 4 replicas (zset).
// ARGV: 1 now ms, 2 window ms, 3 n, 4 reserve, 5 floor, 6 min share,
// 7 class, 8 key, 9 uid, 10 replica, 11 bgLinger ms.
// Returns {ok, wait ms, replicas, paused}.
var takeScript = redis.NewScript(`
local now, per = tonumber(ARGV[1]), tonumber(ARGV[2])
local n, reserve, floor, minshare = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cls, key = ARGV[7], ARGV[8]
redis.call('ZADD', KEYS[4], now, ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 30000)
redis.call('PEXPIRE', KEYS[4], 60000)
local replicas = redis.call('ZCARD', KEYS[4])
local pause = redis.call('PTTL', KEYS[3])
if pause > 0 then return {0, pause, replicas, 1} end
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - per)
for _, m in ipairs(old) do
  local c, k = string.sub(m, 1, 1), string.match(m, '^.(.-)\n')
  if redis.call('HINCRBY', KEYS[2], 'u'..c, -1) < 0 then redis.call('HSET', KEYS[2], 'u'..c, 0) end
  if k ~= '' and redis.call('HINCRBY', KEYS[2], 'k'..c..k, -1) <= 0 then
    redis.call('HDEL', KEYS[2], 'k'..c..k)
    if redis.call('HINCRBY', KEYS[2], 'a'..c, -1) < 0 then redis.call('HSET', KEYS[2], 'a'..c, 0) end
  end
end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per) end
if cls == '2' then redis.call('HSET', KEYS[2], 'w', now) end
local h = redis.call('HMGET', KEYS[2], 'u0', 'u1', 'u2', 'a'..cls, 'k'..cls..key, 'w')
local u0, u1, u2 = tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0
local used = u0 + u1 + u2
local held = 0
if (tonumber(h[6]) or 0) + tonumber(ARGV[11]) > now then held = math.max(0, floor - u2) end
local limit
if cls == '0' then limit = n - held
elseif cls == '1' then limit = n - reserve - held
elseif u2 < floor then limit = n
else limit = n - reserve - math.floor(reserve / 2) end
if limit < 1 then limit = 1 end
local function leaves(i)
  local e = redis.call('ZRANGE', KEYS[1], i, i, 'WITHSCORES')
  if #e == 0 then return 1 end
  return math.max(1, tonumber(e[2]) + per - now)
end
if used >= limit then return {0, leaves(used - limit), replicas, 0} end
if key ~= '' then
  local active, mine = tonumber(h[4]) or 0, tonumber(h[5]) or 0
  local others = active
  if mine > 0 then others = others - 1 end
  local share = math.max(math.floor((limit + others + 1) / (others + 2)), minshare)
  if mine >= share and limit - used <= share then return {0, leaves(0), replicas, 0} end
end
redis.call('ZADD', KEYS[1], now, cls..key..'\n'..ARGV[9])
redis.call('HINCRBY', KEYS[2], 'u'..cls, 1)
if key ~= '' and redis.call('HINCRBY', KEYS[2], 'k'..cls..key, 1) == 1 then
  redis.call('HINCRBY', KEYS[2], 'a'..cls, 1)
end
redis.call('PEXPIRE', KEYS[1], per + 60000)
redis.call('PEXPIRE', KEYS[2], per + 60000)
return {1, 0, replicas, 0}
`)

// localWindow is one group's window in process: the budget without
// Redis, or while Redis does not answer.
type localWindow struct {
	mu     sync.Mutex
	calls  []windowCall // oldest first
	used   [3]int
	keys   [3]map[string]int
	bgLast time.Time
	pause  time.Time
}

type windowCall struct {
	at    time.Time
	class erp.Class
	key   string
}

// take lets one call of class c for key pass now, or says how long to
// wait; the rules are takeScript's.
func (w *localWindow) take(r rules, now time.Time, c erp.Class, key string) decision {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pause.After(now) {
		return decision{wait: w.pause.Sub(now), paused: true}
	}
	n := 0
	for n < len(w.calls) && !w.calls[n].at.After(now.Add(-r.per)) {
		old := w.calls[n]
		w.used[old.class]--
		if old.key != "" {
			if w.keys[old.class][old.key]--; w.keys[old.class][old.key] <= 0 {
				delete(w.keys[old.class], old.key)
			}
		}
		n++
	}
	w.calls = w.calls[n:]
	if c == erp.Background {
		w.bgLast = now
	}
	limit := r.limit(c, w.used, now.Sub(w.bgLast) < bgLinger)
	used := len(w.calls)
	leaves := func(i int) time.Duration {
		if i >= len(w.calls) {
			return time.Millisecond
		}
		return max(time.Millisecond, w.calls[i].at.Add(r.per).Sub(now))
	}
	if used >= limit {
		return decision{wait: leaves(used - limit)}
	}
	if key != "" {
		mine := w.keys[c][key]
		others := len(w.keys[c])
		if mine > 0 {
			others--
		}
		if share := r.share(limit, others); mine >= share && limit-used <= share {
			return decision{wait: leaves(0)}
		}
		if w.keys[c] == nil {
			w.keys[c] = map[string]int{}
		}
		w.keys[c][key]++
	}
	w.calls = append(w.calls, windowCall{at: now, class: c, key: key})
	w.used[c]++
	return decision{ok: true}
}

// budget holds the windows of every group: in Redis when configured,
// falling back to localWindow while Redis fails.
type budget struct {
	rdb            redis.UniversalClient // nil: local only
	prefix         string
	n              int
	per            time.Duration
	reserve, floor float64
	replica        string
	seq            atomic.Int64
	replicas       atomic.Int64 // replicas seen in Redis lately, for the fallback
	local          sync.Map     // group -> *localWindow
	onFallback     func(error)
	redisDown      atomic.Int64 // unix nanoseconds: Redis is left alone until then
	disabled       bool         // EXTEND_RATE_LIMIT off: only pauses count
}

func (b *budget) window(group string) *localWindow {
	if w, ok := b.local.Load(group); ok {
		return w.(*localWindow)
	}
	w, _ := b.local.LoadOrStore(group, &localWindow{})
	return w.(*localWindow)
}

// key is one of the group's Redis keys; the hash tag keeps them in one
// Redis Cluster slot.
func (b *budget) key(group, name string) string {
	return b.prefix + "{" + group + "}:" + name
}

// take asks for one call of class c for the fairness key.
func (b *budget) take(ctx context.Context, group string, c erp.Class, key string, now time.Time) (decision, error) {
	if b.rdb != nil && now.UnixNano() >= b.redisDown.Load() {
		r := newRules(b.n, b.per, b.reserve, b.floor, 1)
		if b.disabled {
			r = rules{n: math.MaxInt32, per: time.Millisecond}
		}
		tctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		res, err := takeScript.Run(tctx, b.rdb,
			[]string{b.key(group, "window"), b.key(group, "counts"), b.key(group, "pause"), b.key(group, "replicas")},
			now.UnixMilli(), r.per.Milliseconds(), r.n, r.reserve, r.floor, r.minShare,
			strconv.Itoa(int(c)), key, b.replica+":"+strconv.FormatInt(b.seq.Add(1), 36), b.replica,
			bgLinger.Milliseconds()).Int64Slice()
		cancel()
		if err == nil && len(res) == 4 {
			b.replicas.Store(max(res[2], 1))
			return decision{ok: res[0] == 1, wait: time.Duration(res[1]) * time.Millisecond, paused: res[3] == 1}, nil
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return decision{}, ctx.Err()
		}
		// A Redis that failed is left alone for a second: its timeout is
		// paid once a second, not by every call.
		b.redisDown.Store(now.Add(time.Second).UnixNano())
		if b.onFallback != nil {
			b.onFallback(err)
		}
	}
	r := newRules(b.n, b.per, b.reserve, b.floor, int(max(b.replicas.Load(), 1)))
	if b.disabled {
		r = rules{n: math.MaxInt32, per: time.Millisecond}
	}
	return b.window(group).take(r, now, c, key), nil
}

// pause stops group's calls until until, on every replica (in Redis) and
// here (for while Redis is away).
func (b *budget) pause(ctx context.Context, group string, now, until time.Time) {
	w := b.window(group)
	w.mu.Lock()
	if until.After(w.pause) {
		w.pause = until
	}
	w.mu.Unlock()
	if b.rdb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 250*time.Millisecond)
	defer cancel()
	// A later pause is never shortened by an earlier one.
	_ = pauseScript.Run(ctx, b.rdb, []string{b.key(group, "pause")}, until.Sub(now).Milliseconds()).Err()
}

var pauseScript = redis.NewScript(`
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
`)

// resume lifts every group's pause, on every replica.
func (b *budget) resume(ctx context.Context, groups []string) error {
	for _, g := range groups {
		w := b.window(g)
		w.mu.Lock()
		w.pause = time.Time{}
		w.mu.Unlock()
	}
	if b.rdb == nil {
		return nil
	}
	keys := make([]string, len(groups))
	for i, g := range groups {
		keys[i] = b.key(g, "pause")
	}
	// One DEL per key: in a Redis Cluster they live in different slots.
	var errs []error
	for _, k := range keys {
		if err := b.rdb.Del(ctx, k).Err(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// paused returns how long each paused group stays paused.
func (b *budget) paused(ctx context.Context, groups []string, now time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, g := range groups {
		if b.rdb != nil {
			d, err := b.rdb.PTTL(ctx, b.key(g, "pause")).Result()
			if err == nil {
				if d > 0 {
					out[g] = d
				}
				continue
			}
		}
		w := b.window(g)
		w.mu.Lock()
		if w.pause.After(now) {
			out[g] = w.pause.Sub(now)
		}
		w.mu.Unlock()
	}
	return out
}
