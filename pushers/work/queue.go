package work

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/vendre-extend/gateway/clip"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/retry"
)

// Fields of an item's hash that the queue writes; a caller's own fields
// must not use these names.
const (
	fieldOwner   = "owner"    // the fencing token of the claim holding it ("0": none yet)
	fieldTries   = "tries"    // failed tries in a row (Retry)
	fieldParked  = "parked"   // "1" while it is a dead letter off the queue
	fieldAddedAt = "added_at" // when it was added, Unix ms
	fieldError   = "last_error"
	// FieldAgain, set to "1" on an item while it is being worked (by a
	// caller's own script, or by Add on a Coalesce queue), makes the claim's
	// Ack put it back on the queue, due at once, instead of finishing it:
	// work that arrived while the item was being done is not lost.
	FieldAgain = "again"
)

// Config configures a Queue. Zero values take the defaults named.
type Config struct {
	// Prefix of every key; "gwq:" when "". The queue's keys are
	// <Prefix>{<name>}:...
	Prefix string
	// Visibility is how long a claim lasts: a worker that dies holding
	// one leaves the item to another after this; default 15s.
	Visibility time.Duration
	// RetryBase and RetryMax are the retry policy between tries of one
	// item (retry.Policy's Base and Max); default 1s and 5m.
	RetryBase, RetryMax time.Duration
	// MaxTries is how often an item may fail (Retry) before it is parked
	// as a dead letter; default 50.
	MaxTries int
	// Retention is how long an acknowledged item is remembered, so that
	// adding it again within it is recognised as a duplicate; 0: it is
	// deleted at once (marks that may come again).
	Retention time.Duration
	// Coalesce: adding an item that is being worked makes it due again
	// once its claim ends with Ack (the stock pusher's dirty marks).
	// Without it, adding an item that is there changes nothing.
	Coalesce bool
	// Reopen, when set, is applied to an item that Replay puts back.
	Reopen *Reopen
	// Poll is how often an idle worker looks for due items; default 500ms.
	Poll time.Duration
	// DeadLetterRetention is how long a dead letter is kept
	// (DEAD_LETTER_RETENTION); default pushers.DefaultDeadLetterRetention.
	DeadLetterRetention time.Duration
	Logger              *slog.Logger
	Now                 func() time.Time
}

// Reopen names what Replay resets: when the item's field Field holds one
// of From, the field/value pairs Set are written (the order pusher sends
// an order in manual handling back to "pending").
type Reopen struct {
	Field string
	From  []string
	Set   []any
}

// Queue is one named queue of durable work in Redis. It is safe for
// concurrent use; run its workers on every replica.
type Queue struct {
	rdb     redis.UniversalClient
	name    string
	cfg     Config
	base    string
	rec     *pushers.Recorder
	dead    *pushers.DeadLetters
	log     *slog.Logger
	poke    chan struct{}
	running atomic.Bool
}

// New returns the queue called name (its name in /admin/pushers too).
func New(rdb redis.UniversalClient, name string, cfg Config) *Queue {
	if cfg.Prefix == "" {
		cfg.Prefix = "gwq:"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Visibility, 15*time.Second)
	def(&cfg.RetryBase, time.Second)
	def(&cfg.RetryMax, 5*time.Minute)
	def(&cfg.Poll, 500*time.Millisecond)
	if cfg.MaxTries <= 0 {
		cfg.MaxTries = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := cfg.Prefix + "{" + name + "}:"
	return &Queue{
		rdb: rdb, name: name, cfg: cfg, base: base,
		rec:  pushers.NewRecorder(rdb, base+"status"),
		dead: pushers.NewDeadLetters(rdb, base+"dead", cfg.DeadLetterRetention),
		log:  cfg.Logger, poke: make(chan struct{}, 1),
	}
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// Key is the key <prefix>{<name>}:<suffix>: a caller's own key in the
// queue's slot, so that its scripts may touch it with the queue's keys.
func (q *Queue) Key(suffix string) string { return q.base + suffix }

// ItemKey is the key of item id's hash.
func (q *Queue) ItemKey(id string) string { return q.base + "o:" + id }

// DueKey is the key of the sorted set of queued items by due time (Unix
// ms).
func (q *Queue) DueKey() string { return q.base + "due" }

func (q *Queue) fenceKey() string  { return q.base + "fence" }
func (q *Queue) statusKey() string { return q.base + "status" }

// DeadLetters is the queue's dead-letter list.
func (q *Queue) DeadLetters() *pushers.DeadLetters { return q.dead }

// Lease returns the lease called name in the queue's slot (a poller
// that adds items under it passes it to AddFenced).
func (q *Queue) Lease(name string, ttl time.Duration) *pushers.Lease {
	return pushers.NewLease(q.rdb, q.Key("lease:"+name), ttl)
}

// Poke wakes an idle worker of this process (work was added).
func (q *Queue) Poke() {
	select {
	case q.poke <- struct{}{}:
	default:
	}
}

// Success records a success now, for Status.
func (q *Queue) Success(ctx context.Context) { q.rec.Success(ctx, q.cfg.Now()) }

// Failure records msg (cut to clip.Message; no secrets) as the last
// error now, for Status.
func (q *Queue) Failure(ctx context.Context, msg string) { q.rec.Failure(ctx, q.cfg.Now(), msg) }

// ErrFenced is an AddFenced refused because its lease is no longer held
// with that token.
var ErrFenced = errors.New("work: lease lost")

// addScript adds an item once. KEYS: item, due, status[, lease]. ARGV:
// due ms, now ms, id, lease token, coalesce ("1"), then field/value
// pairs. Answers 1 (added), 0 (there already: counted as a duplicate),
// -1 (fenced out).
var addScript = redis.NewScript(`
if KEYS[4] and redis.call('GET', KEYS[4]) ~= ARGV[4] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'duplicates', 1)
  if ARGV[5] == '1' and redis.call('HGET', KEYS[1], 'owner') ~= '0' then
    if redis.call('ZSCORE', KEYS[2], ARGV[3]) then
      redis.call('HSET', KEYS[1], 'again', '1')
    else
      redis.call('HSET', KEYS[1], 'owner', '0', 'again', '0', 'parked', '0', 'tries', '0')
      redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
    end
  end
  return 0
end
redis.call('HSET', KEYS[1], 'added_at', ARGV[2], 'tries', '0', 'owner', '0', unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
return 1
`)

// Add puts item id on the queue due at due (zero: now) with the given
// field/value pairs, unless it is there already, queued or done and
// remembered (see Config.Retention and Coalesce). It reports whether it
// was added. Errors: Redis failures (the caller must not acknowledge the
// work to whoever handed it in).
func (q *Queue) Add(ctx context.Context, id string, due time.Time, fields ...any) (bool, error) {
	return q.add(ctx, nil, 0, id, due, fields)
}

// AddFenced is Add while tok holds lease (from Lease): a holder that lost
// the lease adds nothing and gets ErrFenced.
func (q *Queue) AddFenced(ctx context.Context, lease *pushers.Lease, tok int64, id string, due time.Time, fields ...any) (bool, error) {
	return q.add(ctx, lease, tok, id, due, fields)
}

func (q *Queue) add(ctx context.Context, lease *pushers.Lease, tok int64, id string, due time.Time, fields []any) (bool, error) {
	now := q.cfg.Now()
	if due.IsZero() {
		due = now
	}
	ks := []string{q.ItemKey(id), q.DueKey(), q.statusKey()}
	if lease != nil {
		ks = append(ks, lease.Key())
	}
	coalesce := "0"
	if q.cfg.Coalesce {
		coalesce = "1"
	}
	args := append([]any{due.UnixMilli(), now.UnixMilli(), id, strconv.FormatInt(tok, 10), coalesce}, fields...)
	n, err := addScript.Run(ctx, q.rdb, ks, args...).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("work: %s: add %s: %w", q.name, id, err)
	case n < 0:
		return false, ErrFenced
	case n == 0:
		return false, nil
	}
	q.Poke()
	return true, nil
}

// addAllScript is addScript for many items without fields. KEYS: due,
// status. ARGV: now ms, coalesce, item key prefix, then ids. Answers how
// many were added.
var addAllScript = redis.NewScript(`
local added = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local h = ARGV[3] .. id
  if redis.call('EXISTS', h) == 1 then
    if ARGV[2] == '1' and redis.call('HGET', h, 'owner') ~= '0' then
      if redis.call('ZSCORE', KEYS[1], id) then
        redis.call('HSET', h, 'again', '1')
      else
        redis.call('HSET', h, 'owner', '0', 'again', '0', 'parked', '0', 'tries', '0')
        redis.call('ZADD', KEYS[1], ARGV[1], id)
      end
    end
  else
    redis.call('HSET', h, 'added_at', ARGV[1], 'tries', '0', 'owner', '0')
    redis.call('ZADD', KEYS[1], ARGV[1], id)
    added = added + 1
  end
end
return added
`)

// AddAll is Add, due now and without fields, for many items (marks: the
// stock pusher's products), in chunks of 500 per script.
func (q *Queue) AddAll(ctx context.Context, ids []string) error {
	coalesce := "0"
	if q.cfg.Coalesce {
		coalesce = "1"
	}
	for chunk := range slices.Chunk(ids, 500) {
		args := []any{q.cfg.Now().UnixMilli(), coalesce, q.ItemKey("")}
		for _, id := range chunk {
			args = append(args, id)
		}
		if err := addAllScript.Run(ctx, q.rdb, []string{q.DueKey(), q.statusKey()}, args...).Err(); err != nil {
			return fmt.Errorf("work: %s: add %d items: %w", q.name, len(chunk), err)
		}
	}
	q.Poke()
	return nil
}

// Batch is up to n items claimed together under one token (ClaimBatch).
type Batch struct {
	q     *Queue
	IDs   []string
	Token string
	Until time.Time
}

// claimBatchScript claims up to ARGV[3] due items under one new token,
// while the lease KEYS[3] holds ARGV[5]. KEYS: due, fence, lease. ARGV:
// now ms, visibility ms, n, item key prefix, lease token. Answers the
// token then the ids; false when fenced out.
var claimBatchScript = redis.NewScript(`
if redis.call('GET', KEYS[3]) ~= ARGV[5] then return false end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
if #ids == 0 then return {'0'} end
local tok = redis.call('INCR', KEYS[2])
local out = {tostring(tok)}
local due = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, id in ipairs(ids) do
  local h = ARGV[4] .. id
  if redis.call('EXISTS', h) == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('ZADD', KEYS[1], due, id)
    redis.call('HSET', h, 'owner', tok)
    out[#out + 1] = id
  end
end
return out
`)

// ClaimBatch claims up to n due items, oldest due first, under one token,
// while tok holds lease (the one replica that pushes); it returns nil when
// none is due. Errors: ErrFenced when the lease is lost.
func (q *Queue) ClaimBatch(ctx context.Context, n int, lease *pushers.Lease, tok int64) (*Batch, error) {
	now := q.cfg.Now()
	res, err := claimBatchScript.Run(ctx, q.rdb, []string{q.DueKey(), q.fenceKey(), lease.Key()},
		now.UnixMilli(), q.cfg.Visibility.Milliseconds(), n, q.ItemKey(""), strconv.FormatInt(tok, 10)).StringSlice()
	if errors.Is(err, redis.Nil) {
		return nil, ErrFenced
	}
	if err != nil {
		return nil, fmt.Errorf("work: %s: claim a batch: %w", q.name, err)
	}
	if len(res) < 2 {
		return nil, nil
	}
	return &Batch{q: q, Token: res[0], IDs: res[1:], Until: now.Add(q.cfg.Visibility)}, nil
}

// ackBatchScript is updateScript's Ack for a batch. KEYS: due, status.
// ARGV: token, ttl ms (-1: delete), now ms, item key prefix, then ids.
var ackBatchScript = redis.NewScript(`
local n = 0
for i = 5, #ARGV do
  local id = ARGV[i]
  local h = ARGV[4] .. id
  if redis.call('HGET', h, 'owner') == ARGV[1] then
    if redis.call('HGET', h, 'again') == '1' then
      redis.call('HSET', h, 'again', '0', 'owner', '0')
      redis.call('ZADD', KEYS[1], ARGV[3], id)
    else
      redis.call('ZREM', KEYS[1], id)
      if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', h, ARGV[2]) else redis.call('DEL', h) end
      n = n + 1
    end
  end
end
redis.call('HINCRBY', KEYS[2], 'acked', n)
return n
`)

// Ack finishes the batch's items still held by its token (as Claim.Ack;
// one marked again meanwhile is due again at once).
func (b *Batch) Ack(ctx context.Context) error {
	ttl := b.q.cfg.Retention.Milliseconds()
	if ttl <= 0 {
		ttl = -1
	}
	args := []any{b.Token, ttl, b.q.cfg.Now().UnixMilli(), b.q.ItemKey("")}
	for _, id := range b.IDs {
		args = append(args, id)
	}
	err := ackBatchScript.Run(ctx, b.q.rdb, []string{b.q.DueKey(), b.q.statusKey()}, args...).Err()
	if err != nil {
		return fmt.Errorf("work: %s: ack a batch: %w", b.q.name, err)
	}
	return nil
}

// releaseScript makes every item due later than ARGV[1] due then.
var releaseScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[1], id) end
return #ids
`)

// Release makes every item due later than now due now, and returns how
// many. For a queue whose items are never scheduled ahead (no Retry or
// Later: the stock pusher's), these are the claims of a holder known to
// be gone (a new lease holder starts), taken back without waiting for
// their Visibility.
func (q *Queue) Release(ctx context.Context) (int, error) {
	return releaseScript.Run(ctx, q.rdb, []string{q.DueKey()}, q.cfg.Now().UnixMilli()).Int()
}

// Claim is one item held by one worker until Until.
type Claim struct {
	q      *Queue
	ID     string
	Token  string
	At     time.Time         // when it was claimed
	Until  time.Time         // when the claim lapses
	Fields map[string]string // the item's hash as claimed
}

// Tries is how often the item failed in a row before this claim.
func (c *Claim) Tries() int {
	n, _ := strconv.Atoi(c.Fields[fieldTries])
	return n
}

// claimScript takes the first due item: its due time moves a visibility
// period ahead and it gets a new fencing token. KEYS: due, fence. ARGV:
// now ms, visibility ms, item key prefix. Answers id, token, then the
// item's hash; token "0" for an item whose hash is gone (dropped).
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #ids == 0 then return false end
local h = ARGV[3] .. ids[1]
if redis.call('EXISTS', h) == 0 then
  redis.call('ZREM', KEYS[1], ids[1])
  return {ids[1], '0'}
end
local tok = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ids[1])
redis.call('HSET', h, 'owner', tok)
local out = {ids[1], tostring(tok)}
local kv = redis.call('HGETALL', h)
for i = 1, #kv do out[#out + 1] = kv[i] end
return out
`)

// Claim takes the first due item, or returns nil when none is due.
func (q *Queue) Claim(ctx context.Context) (*Claim, error) {
	for {
		now := q.cfg.Now()
		res, err := claimScript.Run(ctx, q.rdb, []string{q.DueKey(), q.fenceKey()},
			now.UnixMilli(), q.cfg.Visibility.Milliseconds(), q.ItemKey("")).StringSlice()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("work: %s: claim: %w", q.name, err)
		}
		if len(res) < 2 || res[1] == "0" {
			continue // a queued id whose item is gone: dropped, try the next
		}
		c := &Claim{q: q, ID: res[0], Token: res[1], At: now, Until: now.Add(q.cfg.Visibility),
			Fields: make(map[string]string, (len(res)-2)/2)}
		for i := 2; i+1 < len(res); i += 2 {
			c.Fields[res[i]] = res[i+1]
		}
		return c, nil
	}
}

// updateScript changes an item only while ARGV[1] holds it. KEYS: item,
// due, dead, status. ARGV: token, id, due ms (-1: off the queue), ttl ms (0: keep,
// -1: delete), now ms, dead letter ("" none), then field/value pairs. An
// item taken off the queue with FieldAgain "1" and not parked goes back,
// due now; one that leaves the queue otherwise, not parked, is counted
// as acknowledged.
var updateScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if #ARGV > 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 7)) end
if ARGV[6] ~= '' then redis.call('LPUSH', KEYS[3], ARGV[6]) end
local due = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
if due < 0 and redis.call('HGET', KEYS[1], 'again') == '1' and redis.call('HGET', KEYS[1], 'parked') ~= '1' then
  redis.call('HSET', KEYS[1], 'again', '0', 'owner', '0')
  due = tonumber(ARGV[5])
  if ttl < 0 then ttl = 0 end
end
if due < 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
  if redis.call('HGET', KEYS[1], 'parked') ~= '1' then redis.call('HINCRBY', KEYS[4], 'acked', 1) end
else
  redis.call('ZADD', KEYS[2], due, ARGV[2])
end
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) elseif ttl < 0 then redis.call('DEL', KEYS[1]) end
return 1
`)

// apply writes fields under the claim, with the next due time (zero: off
// the queue), the item's expiry (0 keep, <0 delete) and a dead letter
// (nil: none), all in one script; it reports whether the claim still held.
func (c *Claim) apply(ctx context.Context, due time.Time, ttl time.Duration, letter []byte, fields []any) (bool, error) {
	d := int64(-1)
	if !due.IsZero() {
		d = due.UnixMilli()
	}
	t := ttl.Milliseconds()
	if ttl < 0 {
		t = -1
	}
	args := append([]any{c.Token, c.ID, d, t, c.q.cfg.Now().UnixMilli(), string(letter)}, fields...)
	n, err := updateScript.Run(ctx, c.q.rdb, []string{c.q.ItemKey(c.ID), c.q.DueKey(), c.q.dead.Key(), c.q.statusKey()}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("work: %s: update %s: %w", c.q.name, c.ID, err)
	}
	if n == 1 && letter != nil {
		c.q.dead.Prune(ctx)
	}
	return n == 1, nil
}

// Set writes field/value pairs under the claim and keeps the item queued,
// due at due (zero: when the claim lapses). It reports whether the claim
// still held; when it did not, nothing was written.
func (c *Claim) Set(ctx context.Context, due time.Time, fields ...any) (bool, error) {
	if due.IsZero() {
		due = c.Until
	}
	return c.apply(ctx, due, 0, nil, fields)
}

// Ack finishes the item with field/value pairs: it leaves the queue and is
// remembered for the queue's Retention (or deleted), unless work arrived
// for it meanwhile (FieldAgain). It reports whether the claim still held.
func (c *Claim) Ack(ctx context.Context, fields ...any) (bool, error) {
	ttl := c.q.cfg.Retention
	if ttl <= 0 {
		ttl = -1
	}
	return c.apply(ctx, time.Time{}, ttl, nil, append(fields, fieldTries, 0))
}

// Retry schedules the item again after the retry policy's wait for its
// tries, recording
// cause as its last error and the queue's last failure, or parks it when
// it failed MaxTries times in a row.
func (c *Claim) Retry(ctx context.Context, cause error, fields ...any) error {
	tries := c.Tries() + 1
	why := clip.String(cause.Error(), clip.Message)
	c.q.Failure(ctx, c.ID+": "+why)
	if tries >= c.q.cfg.MaxTries {
		return c.Park(ctx, why, append(fields, fieldTries, tries)...)
	}
	due := c.q.cfg.Now().Add(c.q.policy().Wait(tries))
	_, err := c.apply(ctx, due, 0, nil, append(fields, fieldTries, tries, fieldError, why))
	return err
}

// Later schedules the item again after wait (bounded by RetryBase and
// RetryMax) without counting a try: the cause is no failure of the
// item's (the ERP's call budget is spent for now).
func (c *Claim) Later(ctx context.Context, wait time.Duration, cause error, fields ...any) error {
	wait = min(max(wait, c.q.cfg.RetryBase), c.q.cfg.RetryMax)
	why := clip.String(cause.Error(), clip.Message)
	_, err := c.apply(ctx, c.q.cfg.Now().Add(wait), 0, nil, append(fields, fieldError, why))
	return err
}

// Park takes the item off the queue as a dead letter with reason (cut to
// clip.Message), in one script with the fields: Replay puts it back.
func (c *Claim) Park(ctx context.Context, reason string, fields ...any) error {
	reason = clip.String(reason, clip.Message)
	ok, err := c.apply(ctx, time.Time{}, 0, c.q.letter(reason, c.ID), append(fields, fieldParked, "1", fieldError, reason))
	if err == nil && ok {
		c.q.Failure(ctx, c.ID+": "+reason)
		c.q.log.Error(c.q.name+": parked as a dead letter", "id", c.ID, "reason", reason)
	}
	return err
}

// Letter lists the item as a dead letter with reason, in one script with
// the fields, while it stays queued until the claim lapses (work left to
// do before it finishes: the order pusher tells the shop of an order in
// manual handling). Replay puts it back to work.
func (c *Claim) Letter(ctx context.Context, reason string, fields ...any) (bool, error) {
	reason = clip.String(reason, clip.Message)
	ok, err := c.apply(ctx, c.Until, 0, c.q.letter(reason, c.ID), fields)
	if err == nil && ok {
		c.q.Failure(ctx, c.ID+": "+reason)
	}
	return ok, err
}

// Letter lists the items ids as one dead letter with reason, outside any
// claim (an item added already in need of a person; a batch a sink
// refused).
func (q *Queue) Letter(ctx context.Context, reason string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	reason = clip.String(reason, clip.Message)
	q.Failure(ctx, ids[0]+": "+reason)
	return q.dead.Add(ctx, q.letterOf(reason, ids...))
}

// LetterIDs are the ids of the items a dead letter of a queue names.
func LetterIDs(dl pushers.DeadLetter) []string {
	var d letterData
	if json.Unmarshal(dl.Data, &d) != nil {
		return nil
	}
	return d.ids()
}

// letterData is the Data of a queue's dead letter. Ext and Products are
// how the order and stock pushers named the work of the dead letters they
// wrote before this queue: Replay reads them too.
type letterData struct {
	IDs      []string `json:"ids"`
	Ext      string   `json:"ext,omitempty"`
	Products []string `json:"products,omitempty"`
}

// ids is what the letter names.
func (d letterData) ids() []string {
	out := append(d.IDs, d.Products...)
	if d.Ext != "" {
		out = append(out, d.Ext)
	}
	return out
}

func (q *Queue) letterOf(reason string, ids ...string) pushers.DeadLetter {
	data, _ := json.Marshal(letterData{IDs: ids})
	id := ids[0]
	if len(ids) > 1 {
		id = fmt.Sprintf("%d items from %s", len(ids), ids[0])
	}
	return pushers.DeadLetter{ID: id, At: q.cfg.Now().UTC(), Reason: reason, Data: data}
}

func (q *Queue) letter(reason string, ids ...string) []byte {
	b, _ := json.Marshal(q.letterOf(reason, ids...))
	return b
}

// requeueScript puts an item back to work (Replay). KEYS: item, due.
// ARGV: now ms, id, reopen field ("" none), n, n values, then the pairs
// to set when the field holds one of them. An item still queued keeps its
// due time (a worker may hold it); one off the queue is due now.
var requeueScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[3] ~= '' then
  local v = redis.call('HGET', KEYS[1], ARGV[3])
  local n = tonumber(ARGV[4])
  for i = 5, 4 + n do
    if v == ARGV[i] and #ARGV >= 5 + n then
      redis.call('HSET', KEYS[1], unpack(ARGV, 5 + n))
      break
    end
  end
end
redis.call('HSET', KEYS[1], 'tries', '0', 'parked', '0')
redis.call('PERSIST', KEYS[1])
if not redis.call('ZSCORE', KEYS[2], ARGV[2]) then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
end
return 1
`)

// Requeue puts item id back to work with its tries reset (and
// Config.Reopen applied); it reports whether the item exists.
func (q *Queue) Requeue(ctx context.Context, id string) (bool, error) {
	args := []any{q.cfg.Now().UnixMilli(), id, "", 0}
	if r := q.cfg.Reopen; r != nil {
		args = []any{q.cfg.Now().UnixMilli(), id, r.Field, len(r.From)}
		for _, f := range r.From {
			args = append(args, f)
		}
		args = append(args, r.Set...)
	}
	n, err := requeueScript.Run(ctx, q.rdb, []string{q.ItemKey(id), q.DueKey()}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("work: %s: requeue %s: %w", q.name, id, err)
	}
	q.Poke()
	return n == 1, nil
}

// Replay puts every dead letter's items back to work (Requeue) and drops
// the letter after; it returns how many letters it replayed.
func (q *Queue) Replay(ctx context.Context) (int, error) {
	n, err := q.dead.Each(ctx, func(dl pushers.DeadLetter) error {
		var d letterData
		if json.Unmarshal(dl.Data, &d) != nil {
			return nil // not ours: dropped
		}
		for _, id := range d.ids() {
			if _, err := q.Requeue(ctx, id); err != nil {
				return err
			}
		}
		return nil
	})
	q.Poke()
	return n, err
}

// Status reports the queue: items queued (including those being worked),
// how long the one due longest has waited, the dead letters, the last
// success and error, and a state derived from them (off unless Work runs).
func (q *Queue) Status(ctx context.Context) (pushers.Status, error) {
	st := pushers.Status{Name: q.name}
	pipe := q.rdb.Pipeline()
	n := pipe.ZCard(ctx, q.DueKey())
	first := pipe.ZRangeWithScores(ctx, q.DueKey(), 0, 0)
	dead := pipe.LLen(ctx, q.dead.Key())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return st, err
	}
	st.Backlog, st.DeadLetters = n.Val(), dead.Val()
	if z := first.Val(); len(z) > 0 {
		st.OldestPending = max(q.cfg.Now().Sub(time.UnixMilli(int64(z[0].Score))), 0)
	}
	if st.DeadLetters > 0 {
		st.Recent, _ = q.dead.List(ctx, pushers.RecentDeadLetters)
	}
	if err := q.rec.Fill(ctx, &st); err != nil {
		return st, err
	}
	switch {
	case !q.running.Load():
		st.State = pushers.StateOff
	case st.Backlog > 0 && st.LastErrorAt.After(st.LastSuccess):
		st.State = pushers.StateFailing
	case st.Backlog > 0:
		st.State = pushers.StateRunning
	default:
		st.State = pushers.StateIdle
	}
	return st, nil
}

// Counts reports how many items were acknowledged, and how many adds
// found their item there already, since the queue began (tests and
// operators read them; an Ack and its count are one script, so a crash
// cannot separate them).
func (q *Queue) Counts(ctx context.Context) (acked, duplicates int64, err error) {
	m, err := q.rdb.HMGet(ctx, q.statusKey(), "acked", "duplicates").Result()
	if err != nil {
		return 0, 0, err
	}
	n := func(v any) int64 {
		s, _ := v.(string)
		i, _ := strconv.ParseInt(s, 10, 64)
		return i
	}
	return n(m[0]), n(m[1]), nil
}

// Work claims due items with workers goroutines and hands each claim to
// f, until ctx ends; it returns then. f should end the claim (Ack, Retry,
// Later, Park, or Set a later due time); a claim it leaves lapses after
// Visibility and the item comes back, to this or another replica. An
// error f returns is logged.
func (q *Queue) Work(ctx context.Context, workers int, f func(context.Context, *Claim) error) {
	q.running.Store(true)
	defer q.running.Store(false)
	var g errgroup.Group
	for range max(workers, 1) {
		g.Go(func() error {
			q.worker(ctx, f)
			return nil
		})
	}
	g.Wait()
}

// redisRetry is the wait between failed claims (Redis unreachable).
var redisRetry = retry.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}

func (q *Queue) policy() retry.Policy {
	return retry.Policy{Base: q.cfg.RetryBase, Max: q.cfg.RetryMax}
}

func (q *Queue) worker(ctx context.Context, f func(context.Context, *Claim) error) {
	failures := 0
	for ctx.Err() == nil {
		c, err := q.Claim(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				failures++
				q.log.Warn(q.name+": claim failed", "err", err)
				pushers.Sleep(ctx, redisRetry.Wait(failures))
			}
			continue
		case c == nil:
			failures = 0
			select {
			case <-ctx.Done():
			case <-q.poke:
			case <-time.After(q.cfg.Poll):
			}
			continue
		}
		failures = 0
		if err := f(ctx, c); err != nil && ctx.Err() == nil {
			q.log.Warn(q.name+": processing failed", "id", c.ID, "err", err)
		}
	}
}
