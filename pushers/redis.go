package pushers

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/clip"
)

// Lease is a lock in Redis that one replica at a time holds for ttl and
// renews while it works, with a fencing token: every acquisition gets a
// number larger than any before (INCR of key+":fence"), and the lease key
// holds the holder's number. Writes made under the lease check in the same
// Lua script that the key still holds their token (see Holds and
// FenceScript), so a replica that lost the lease (a pause longer than ttl)
// can no longer change anything.
type Lease struct {
	rdb redis.UniversalClient
	key string
	ttl time.Duration
}

// NewLease returns the lease stored under key, held for ttl per
// acquisition or renewal. key should hold its queue's hash tag
// ("gwq:{stock}:lease"): the fence, key+":fence", then shares its slot,
// as a Redis Cluster requires of the keys of one script.
func NewLease(rdb redis.UniversalClient, key string, ttl time.Duration) *Lease {
	return &Lease{rdb: rdb, key: key, ttl: ttl}
}

// Key is the Redis key holding the current holder's token.
func (l *Lease) Key() string { return l.key }

// TTL is how long an acquisition or renewal lasts.
func (l *Lease) TTL() time.Duration { return l.ttl }

// acquireScript: renew when ARGV[1] still holds the lease, else take it
// when it is free with a new fencing token; answers the token or 0.
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(cur)
end
if cur then return 0 end
local tok = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], tok, 'PX', ARGV[2])
return tok
`)

// Acquire renews the lease when token (0 for none) still holds it, or takes
// it when it is free. It returns the token now holding it, or 0 when
// another holder has it.
func (l *Lease) Acquire(ctx context.Context, token int64) (int64, error) {
	n, err := acquireScript.Run(ctx, l.rdb, []string{l.key, l.key + ":fence"},
		strconv.FormatInt(token, 10), l.ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("pushers: lease %s: %w", l.key, err)
	}
	return n, nil
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Release gives the lease up when token holds it, so another replica need
// not wait for it to expire.
func (l *Lease) Release(ctx context.Context, token int64) error {
	return releaseScript.Run(ctx, l.rdb, []string{l.key}, strconv.FormatInt(token, 10)).Err()
}

// Recorder keeps a pusher's last success and last error in a Redis hash,
// so every replica reports the same.
type Recorder struct {
	rdb redis.UniversalClient
	key string
}

// NewRecorder returns a Recorder keeping its fields in the hash key.
func NewRecorder(rdb redis.UniversalClient, key string) *Recorder {
	return &Recorder{rdb: rdb, key: key}
}

// Success records a success at t.
func (r *Recorder) Success(ctx context.Context, t time.Time) {
	r.rdb.HSet(ctx, r.key, "last_success", t.UnixMilli())
}

// Failure records the error text msg, cut to clip.Message, at t. msg
// must not hold secrets.
func (r *Recorder) Failure(ctx context.Context, t time.Time, msg string) {
	r.rdb.HSet(ctx, r.key, "last_error", clip.String(msg, clip.Message), "last_error_at", t.UnixMilli())
}

// Fill sets st's LastSuccess, LastError and LastErrorAt.
func (r *Recorder) Fill(ctx context.Context, st *Status) error {
	m, err := r.rdb.HGetAll(ctx, r.key).Result()
	if err != nil {
		return err
	}
	st.LastSuccess = msTime(m["last_success"])
	st.LastError = m["last_error"]
	st.LastErrorAt = msTime(m["last_error_at"])
	return nil
}

func msTime(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// DeadLetter is one piece of work a pusher gave up on, kept for an
// operator to see and replay.
type DeadLetter struct {
	ID     string          `json:"id"`     // what it is: a product batch, an order number
	At     time.Time       `json:"at"`     // when it was parked, in UTC
	Reason string          `json:"reason"` // the last error, cut to clip.Message
	Data   json.RawMessage `json:"data"`   // what replaying it needs
}

// DefaultDeadLetterRetention is how long a dead letter is kept when
// NewDeadLetters is given no retention (DEAD_LETTER_RETENTION).
const DefaultDeadLetterRetention = 30 * 24 * time.Hour

// DeadLetters is a pusher's dead-letter list, a Redis list of JSON
// DeadLetter values, newest first. A letter is kept for the list's
// retention, then dropped (by Add and Prune): a dead letter is a failure
// an operator was told of (the pusher logs it, /admin/pushers and the
// gateway_pusher_dead_letters metric count it), not work in progress.
type DeadLetters struct {
	rdb       redis.UniversalClient
	key       string
	retention time.Duration
	now       func() time.Time
}

// NewDeadLetters returns the list stored under key, whose letters are kept
// for retention (DefaultDeadLetterRetention when retention <= 0).
func NewDeadLetters(rdb redis.UniversalClient, key string, retention time.Duration) *DeadLetters {
	if retention <= 0 {
		retention = DefaultDeadLetterRetention
	}
	return &DeadLetters{rdb: rdb, key: key, retention: retention, now: time.Now}
}

// Key is the Redis list's key.
func (d *DeadLetters) Key() string { return d.key }

// Add parks dl, its reason cut to clip.Message, and drops the letters past
// the retention.
func (d *DeadLetters) Add(ctx context.Context, dl DeadLetter) error {
	dl.At = dl.At.UTC()
	dl.Reason = clip.String(dl.Reason, clip.Message)
	b, err := json.Marshal(dl)
	if err != nil {
		return err
	}
	if err := d.rdb.LPush(ctx, d.key, b).Err(); err != nil {
		return err
	}
	_, err = d.Prune(ctx)
	return err
}

// pruneScript drops letters from the tail (the oldest end) while their
// "at" (UTC, RFC 3339) is before ARGV[1] ("YYYYMMDDhhmmss"), at most 1000
// per run; a letter it cannot read stops it. It answers how many it
// dropped.
var pruneScript = redis.NewScript(`
local n = 0
while n < 1000 do
  local last = redis.call('LINDEX', KEYS[1], -1)
  if not last then break end
  local at = string.match(last, '"at":"(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d)')
  if not at or string.gsub(at, '%D', '') >= ARGV[1] then break end
  redis.call('RPOP', KEYS[1])
  n = n + 1
end
return n
`)

// Prune drops the letters older than the retention and returns how many
// it dropped. Add calls it, and so does Registry.Statuses, so a quiet list
// is pruned too.
func (d *DeadLetters) Prune(ctx context.Context) (int64, error) {
	cutoff := d.now().UTC().Add(-d.retention).Format("20060102150405")
	return pruneScript.Run(ctx, d.rdb, []string{d.key}, cutoff).Int64()
}

// Len is how many are parked.
func (d *DeadLetters) Len(ctx context.Context) (int64, error) {
	return d.rdb.LLen(ctx, d.key).Result()
}

// Each calls f for every parked letter, oldest first, and removes a letter
// once f returned nil for it: a replay re-queues the work first and drops
// the letter after, so a crash in between repeats work rather than losing
// it. It stops at the first error.
func (d *DeadLetters) Each(ctx context.Context, f func(DeadLetter) error) (int, error) {
	raws, err := d.rdb.LRange(ctx, d.key, 0, -1).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for i := len(raws) - 1; i >= 0; i-- {
		var dl DeadLetter
		if err := json.Unmarshal([]byte(raws[i]), &dl); err != nil {
			continue // not ours; leave it for an operator
		}
		if err := f(dl); err != nil {
			return n, err
		}
		if err := d.rdb.LRem(ctx, d.key, 1, raws[i]).Err(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// List returns up to n parked letters, newest first.
func (d *DeadLetters) List(ctx context.Context, n int64) ([]DeadLetter, error) {
	return d.Page(ctx, 0, n)
}

// Page returns up to n parked letters after the first offset, newest
// first.
func (d *DeadLetters) Page(ctx context.Context, offset, n int64) ([]DeadLetter, error) {
	if n <= 0 {
		return []DeadLetter{}, nil
	}
	raws, err := d.rdb.LRange(ctx, d.key, offset, offset+n-1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(raws))
	for _, r := range raws {
		var dl DeadLetter
		if json.Unmarshal([]byte(r), &dl) == nil {
			out = append(out, dl)
		}
	}
	return out, nil
}

// QueueTags are the hash tags of the durable work's keys, one per queue:
// every key a queue's scripts and transactions touch together is named
// prefix+"{tag}:"+rest, so on a Redis Cluster they share one slot.
var QueueTags = []string{"stock", "orders", "wh", "retailcrm"}

// RenameLegacyKeys moves the keys a release before hash tags wrote
// (prefix+"stock:dirty") to their tagged names (prefix+"{stock}:dirty"),
// TTLs kept, so work recorded before an upgrade is not stranded. It runs
// on one Redis server only: an earlier release could not run on a Redis
// Cluster. A key whose tagged name already exists is left where it is and
// named in kept (a replica of the earlier release still wrote after a
// newer one started: upgrade by stopping the old replicas first). It
// returns how many keys it moved.
func RenameLegacyKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) (moved int, kept []string, err error) {
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return 0, nil, nil
	}
	// One pass over the keyspace (SCAN walks all of it, whatever MATCH
	// says), whatever the number of queues.
	iter := rdb.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		for _, q := range QueueTags {
			old := prefix + q + ":"
			if !strings.HasPrefix(k, old) {
				continue
			}
			ok, err := rdb.RenameNX(ctx, k, prefix+"{"+q+"}:"+k[len(old):]).Result()
			if err != nil && strings.Contains(err.Error(), "no such key") {
				continue // SCAN named it twice, or it expired meanwhile
			}
			if err != nil {
				return moved, kept, fmt.Errorf("pushers: rename %s: %w", k, err)
			}
			if ok {
				moved++
			} else {
				kept = append(kept, k)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return moved, kept, fmt.Errorf("pushers: scan %s*: %w", prefix, err)
	}
	return moved, kept, nil
}

// globEscape quotes the characters SCAN's MATCH treats as a pattern.
func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}
