package main

import (
	"context"
	"log/slog"
	"net/http"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/connectors/baselinker"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/pull"
	"github.com/vendre-extend/gateway/pushers/orders"
)

// BaselinkerConfig holds the Baselinker connector's settings; see Config
// for how a field becomes a setting, and docs/baselinker.md.
type BaselinkerConfig struct {
	Password     string `env:"BASELINKER_PASSWORD" help:"the communication password entered in Baselinker's panel for POST /baselinker (unset: the connector answers 404)"`
	ERPCustomer  string `env:"BASELINKER_ERP_CUSTOMER" help:"Extend customer number Baselinker's orders are booked on, and whose net prices Baselinker sees"`
	VendreOrders bool   `env:"BASELINKER_VENDRE_ORDERS, default=false" help:"list Vendre's shop orders (order source vendre-webhook) in Baselinker's OrdersGet too"`
}

// demoBaselinkerCustomer books Baselinker's orders in demo mode.
const demoBaselinkerCustomer = extendsim.CustomerOther

// validateBaselinker adds what is wrong with the Baselinker settings to
// bad.
func (c *Config) validateBaselinker(bad *problems) {
	b := &c.Baselinker
	if b.Password == "" {
		return
	}
	if len(b.Password) < 8 {
		bad.add("BASELINKER_PASSWORD", "at least 8 characters: enter the password Baselinker's panel generates")
	}
	if b.ERPCustomer == "" {
		if c.Demo() {
			b.ERPCustomer = demoBaselinkerCustomer
		} else {
			bad.add("BASELINKER_ERP_CUSTOMER", "required with BASELINKER_PASSWORD")
		}
	}
	if c.RedisURL == "" && !c.Demo() {
		bad.add("REDIS_URL", "required by BASELINKER_PASSWORD (Baselinker's orders are recorded in Redis before they are answered)")
	}
	if b.VendreOrders && !slices.Contains(c.Push.OrderSources, "vendre-webhook") {
		bad.add("BASELINKER_VENDRE_ORDERS", "needs vendre-webhook in ORDER_SOURCES")
	}
}

// newBaselinker returns the Baselinker connector cfg asks for, nil when
// BASELINKER_PASSWORD is unset. It keeps its catalogue and records in the
// cache's Redis store (shared, nil without Redis: then in a store of its
// own in this process). It does not go through the cache engine: a first
// catalogue read takes minutes, not EXTEND_TIMEOUT, its records stand
// until Extend's change lists say otherwise, and a flush of Vendre's
// answers must not cost it a rebuild (docs/baselinker.md). Its
// background work stops with ctx.
func newBaselinker(ctx context.Context, cfg *Config, client *erp.Client, shared *cache.Redis, rdb redis.UniversalClient, log *slog.Logger) *baselinker.Connector {
	b := cfg.Baselinker
	if b.Password == "" {
		return nil
	}
	var store baselinker.Store = cache.NewMemory(64 << 20)
	if shared != nil {
		store = shared
	}
	if rdb == nil {
		log.Warn("BASELINKER_PASSWORD is set but REDIS_URL is not: Baselinker's order actions answer orders_unavailable (orders are recorded in Redis)")
	}
	return baselinker.New(ctx, baselinker.Config{
		Password: b.Password, Customer: b.ERPCustomer, Warehouses: cfg.Push.StockWarehouses,
		Location: cfg.Location, VendreOrders: b.VendreOrders, Prefix: cfg.queuePrefix(),
		Logger: log.With("connector", "baselinker"),
	}, client, store, rdb)
}

// refresher is what Extend's order and invoice webhooks refresh: the pull
// service, and the connector's kept records. It embeds the service, so
// that the webhook consumer still finds its other methods (StockChanged,
// FlushCustomer).
type refresher struct {
	*pull.Service
	conn *baselinker.Connector // nil: off
}

// OrderChanged refreshes the service's order, then the connector's.
func (r refresher) OrderChanged(ctx context.Context, orderNumber string, created bool) error {
	err := r.Service.OrderChanged(ctx, orderNumber, created)
	if r.conn != nil {
		_ = r.conn.OrderChanged(ctx, orderNumber)
	}
	return err
}

// InvoiceChanged is OrderChanged for an invoice.
func (r refresher) InvoiceChanged(ctx context.Context, invoiceNumber string, created bool) error {
	err := r.Service.InvoiceChanged(ctx, invoiceNumber, created)
	if r.conn != nil {
		_ = r.conn.InvoiceChanged(ctx, invoiceNumber)
	}
	return err
}

// orderHooks is what the connectors add to the order pusher: their
// sources, and whom to tell of Vendre's imported orders.
type orderHooks struct {
	sources        []orders.Source
	vendreImported func(ctx context.Context, id, erpOrder string) error
}

func (bl *blWiring) hooks() orderHooks {
	if bl.conn == nil {
		return orderHooks{}
	}
	return orderHooks{sources: []orders.Source{bl.conn.Source()}, vendreImported: bl.conn.VendreImported}
}

// blWiring is the connector as serve wires it.
type blWiring struct {
	conn *baselinker.Connector // nil: off
}

// handler is POST /baselinker's handler, nil when the connector is off.
func (bl *blWiring) handler(op *orders.Pusher) http.Handler {
	if bl.conn == nil {
		return nil
	}
	if op == nil {
		return bl.conn.Handler(nil)
	}
	return bl.conn.Handler(op)
}
