package orders

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/pushers/work"
)

// Shipper is a Source that is told when Extend picked one of its orders
// (the OrderPicked webhook), once per order.
//
// The report rides on the order's own record and claim: OrderPicked marks
// the imported order "ship pending" and puts it back on the queue; a
// worker then calls Shipped, retried with backoff like any step, parked as
// a dead letter after MaxTries, and re-driven by Replay.
type Shipper interface {
	Source
	// Shipped tells the shop that order id (its payload as recorded; nil
	// when the record has expired) left the warehouse; picked is when the
	// gateway heard of it. It must be safe to repeat.
	Shipped(ctx context.Context, id string, payload []byte, picked time.Time) error
}

// ShipIndexTTL is how long after its import an order's pick is still
// reported: the index from Extend's order number to the shop's order
// lives this long.
const ShipIndexTTL = 365 * 24 * time.Hour

// Ship states (field "ship" of an order's hash).
const (
	shipPending = "pending" // picked in Extend; the shop is told next
	shipDone    = "done"    // the shop was told
)

// byERP is the key of the index from Extend's order number to the order,
// in the orders queue's slot (pickScript touches both).
func (p *Pusher) byERP(orderNumber string) string { return p.q.Key("erp:" + orderNumber) }

// indexShipper writes the index from Extend's order number to the order,
// for a Shipper's imported orders, before the source is told (so that a
// crash in between repeats the write with the notify).
func (p *Pusher) indexShipper(ctx context.Context, c *work.Claim, src Source, erpOrder string) error {
	if _, ok := src.(Shipper); !ok || erpOrder == "" {
		return nil
	}
	pipe := p.rdb.TxPipeline()
	key := p.byERP(erpOrder)
	pipe.HSet(ctx, key, "ext", c.ID, "source", c.Fields["source"], "source_id", c.Fields["source_id"])
	pipe.PExpire(ctx, key, ShipIndexTTL)
	_, err := pipe.Exec(ctx)
	return err
}

// pickScript marks an order picked, once. KEYS: index, due. ARGV: order
// key prefix, now ms. The order's hash is made again from the index when
// it has expired (its payload is then gone). A finished order goes back
// on the queue; one still being worked (created, the shop not yet told)
// gets work.FieldAgain, so that its claim's Ack puts it back.
var pickScript = redis.NewScript(`
local ix = redis.call('HMGET', KEYS[1], 'ext', 'source', 'source_id')
if not ix[1] then return 0 end
local h = ARGV[1] .. ix[1]
local ship = redis.call('HGET', h, 'ship')
if ship == 'pending' or ship == 'done' then return 0 end
if redis.call('EXISTS', h) == 0 then
  redis.call('HSET', h, 'source', ix[2], 'source_id', ix[3], 'state', 'imported', 'owner', '0', 'creates', '0')
end
redis.call('HSET', h, 'ship', 'pending', 'picked_at', ARGV[2])
redis.call('PERSIST', h)
local st = redis.call('HGET', h, 'state')
if st == 'imported' or st == 'handled' then
  redis.call('HSET', h, 'tries', '0', 'parked', '0')
  redis.call('ZADD', KEYS[2], ARGV[2], ix[1])
else
  redis.call('HSET', h, 'again', '1')
end
return 1
`)

// OrderPicked takes Extend's OrderPicked for orderNumber: an order of a
// Shipper source is queued to be reported shipped, once; any other order
// is ignored. It only writes to Redis (no ERP call); an error means
// nothing was recorded and the webhook must be retried.
func (p *Pusher) OrderPicked(ctx context.Context, orderNumber string) error {
	if orderNumber == "" {
		return nil
	}
	n, err := pickScript.Run(ctx, p.rdb, []string{p.byERP(orderNumber), p.q.DueKey()},
		p.q.ItemKey(""), p.cfg.Now().UnixMilli()).Int()
	if err != nil {
		return fmt.Errorf("orders: order %s picked: %w", orderNumber, err)
	}
	if n == 1 {
		p.count(func(s *Stats) { s.Picked++ })
		p.q.Poke()
	}
	return nil
}

// ship tells a Shipper source that its imported order was picked.
func (p *Pusher) ship(ctx context.Context, c *work.Claim, src Source) error {
	sh, ok := src.(Shipper)
	if !ok {
		_, err := c.Ack(ctx, "ship", "")
		return err
	}
	ms, _ := strconv.ParseInt(c.Fields["picked_at"], 10, 64)
	var payload []byte
	if s := c.Fields["payload"]; s != "" {
		payload = []byte(s)
	}
	sctx, cancel := context.WithTimeout(ctx, max(p.cfg.Budget, 10*time.Second))
	err := sh.Shipped(sctx, c.Fields["source_id"], payload, time.UnixMilli(ms))
	cancel()
	if err != nil {
		return c.Retry(ctx, fmt.Errorf("telling %s of the shipment: %w", src.Name(), err))
	}
	p.count(func(s *Stats) { s.Shipped++ })
	_, err = c.Ack(ctx, "ship", shipDone, "shipped_at", p.cfg.Now().UnixMilli())
	return err
}
