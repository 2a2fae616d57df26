package baselinker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// index is the orders Baselinker knows from us, in Redis: each has a
// numeric order id of ours (Baselinker keys orders by a number from 1 to
// 2^31), given once per external order number and never again, and a
// hash of what Baselinker told us about it. The keys share the hash tag
// {bl}, so the scripts also run on a Redis Cluster.
type index struct {
	rdb redis.UniversalClient
	p   string // prefix + "{bl}:"
}

func newIndex(rdb redis.UniversalClient, prefix string) *index {
	return &index{rdb: rdb, p: prefix + "{bl}:"}
}

func (x *index) seqKey() string          { return x.p + "seq" }
func (x *index) idsKey() string          { return x.p + "ids" }     // hash: ext -> id
func (x *index) byIDKey() string         { return x.p + "by-id" }   // zset: ext scored by id
func (x *index) byTimeKey() string       { return x.p + "by-time" } // zset: ext scored by unix time added
func (x *index) infoKey(id int64) string { return x.p + "o:" + strconv.FormatInt(id, 10) }

// assignScript gives ext an id once. KEYS: ids, seq, by-id, by-time.
// ARGV: ext, unix time. Answers {id, 1 when new}.
var assignScript = redis.NewScript(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if id then return {tonumber(id), 0} end
id = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('ZADD', KEYS[3], id, ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return {id, 1}
`)

// maxID is the largest id Baselinker accepts.
const maxID = 1<<31 - 1

// orderInfo is what the index keeps of one order.
type orderInfo struct {
	ID       int64
	Ext      string // external order number: B-<baselinker_id>, V-<vendre id>
	Source   string // the order source
	Added    time.Time
	ERPOrder string // Extend's order number, once known
	Payload  []byte // the order as the shop sent it (orderPayload for Baselinker's)
	// What Baselinker set with OrderUpdate, which Extend cannot take.
	Status     string // a status id
	StatusAt   time.Time
	Paid       string // "1", "0" or "" (never set)
	Deliveries []delivery
}

// delivery is a delivery number Baselinker set (OrderUpdate).
type delivery struct {
	Number string    `json:"number"`
	Method string    `json:"method,omitempty"`
	URL    string    `json:"url,omitempty"`
	At     time.Time `json:"at"`
}

// assign returns ext's id, giving it one the first time; fields are
// written when they are not yet (a repeat does not overwrite what an
// OrderUpdate set).
func (x *index) assign(ctx context.Context, ext, source string, added time.Time, payload []byte) (int64, error) {
	res, err := assignScript.Run(ctx, x.rdb, []string{x.idsKey(), x.seqKey(), x.byIDKey(), x.byTimeKey()},
		ext, added.Unix()).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected answer %v", res)
	}
	if err != nil {
		return 0, fmt.Errorf("baselinker: order id of %s: %w", ext, err)
	}
	id := res[0]
	if id > maxID {
		return 0, fmt.Errorf("baselinker: order id %d is past Baselinker's range", id)
	}
	pipe := x.rdb.TxPipeline()
	k := x.infoKey(id)
	pipe.HSetNX(ctx, k, "ext", ext)
	pipe.HSetNX(ctx, k, "source", source)
	pipe.HSetNX(ctx, k, "added", strconv.FormatInt(added.Unix(), 10))
	if payload != nil {
		pipe.HSetNX(ctx, k, "payload", string(payload))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("baselinker: order %d: %w", id, err)
	}
	return id, nil
}

// setERPOrder records Extend's order number of id.
func (x *index) setERPOrder(ctx context.Context, id int64, erpOrder string) error {
	return x.rdb.HSet(ctx, x.infoKey(id), "erp_order", erpOrder).Err()
}

// idOf returns ext's id; false when it has none.
func (x *index) idOf(ctx context.Context, ext string) (int64, bool, error) {
	s, err := x.rdb.HGet(ctx, x.idsKey(), ext).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil, err
}

// info reads the orders with the given ids; unknown ids are left out.
func (x *index) info(ctx context.Context, ids []int64) ([]orderInfo, error) {
	pipe := x.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, x.infoKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var out []orderInfo
	for i, c := range cmds {
		h := c.Val()
		if h["ext"] == "" {
			continue
		}
		o := orderInfo{ID: ids[i], Ext: h["ext"], Source: h["source"], ERPOrder: h["erp_order"],
			Payload: []byte(h["payload"]), Status: h["bl_status"], Paid: h["bl_paid"]}
		if n, err := strconv.ParseInt(h["added"], 10, 64); err == nil {
			o.Added = time.Unix(n, 0).UTC()
		}
		if n, err := strconv.ParseInt(h["bl_status_at"], 10, 64); err == nil {
			o.StatusAt = time.Unix(n, 0).UTC()
		}
		_ = json.Unmarshal([]byte(h["bl_deliveries"]), &o.Deliveries)
		out = append(out, o)
	}
	return out, nil
}

// page lists ids of orders from id (when from > 0) or added at or after
// since, in id order, skipping skip and at most n.
func (x *index) page(ctx context.Context, fromID int64, since time.Time, skip, n int) ([]int64, error) {
	var exts []string
	var err error
	if fromID > 0 || since.IsZero() {
		exts, err = x.rdb.ZRangeByScore(ctx, x.byIDKey(), &redis.ZRangeBy{
			Min: strconv.FormatInt(max(fromID, 1), 10), Max: "+inf", Offset: int64(skip), Count: int64(n)}).Result()
	} else {
		exts, err = x.rdb.ZRangeByScore(ctx, x.byTimeKey(), &redis.ZRangeBy{
			Min: strconv.FormatInt(since.Unix(), 10), Max: "+inf", Offset: int64(skip), Count: int64(n)}).Result()
	}
	if err != nil || len(exts) == 0 {
		return nil, err
	}
	vals, err := x.rdb.HMGet(ctx, x.idsKey(), exts...).Result()
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(vals))
	for _, v := range vals {
		if s, ok := v.(string); ok {
			if id, err := strconv.ParseInt(s, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// update records what Baselinker set on id with OrderUpdate; it reports
// false for an id we do not know.
var updateScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'ext') == 0 then return 0 end
if ARGV[1] == 'status' then
  redis.call('HSET', KEYS[1], 'bl_status', ARGV[2], 'bl_status_at', ARGV[3])
elseif ARGV[1] == 'paid' then
  redis.call('HSET', KEYS[1], 'bl_paid', ARGV[2])
else
  local list = cjson.decode(redis.call('HGET', KEYS[1], 'bl_deliveries') or '[]')
  local d = cjson.decode(ARGV[2])
  for _, e in ipairs(list) do
    if e.number == d.number then return 1 end
  end
  table.insert(list, d)
  redis.call('HSET', KEYS[1], 'bl_deliveries', cjson.encode(list))
end
return 1
`)

// update records one OrderUpdate on id: kind is status, paid or delivery
// (value a delivery's JSON); a delivery number already recorded is not
// added twice.
func (x *index) update(ctx context.Context, id int64, kind, value string, at time.Time) (bool, error) {
	n, err := updateScript.Run(ctx, x.rdb, []string{x.infoKey(id)}, kind, value, at.Unix()).Int()
	return n == 1, err
}
