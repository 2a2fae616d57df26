package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/admin"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erpguard"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/pushers/orders"
	"github.com/vendre-extend/gateway/pushers/stock"
	"github.com/vendre-extend/gateway/retailcrm"
	"github.com/vendre-extend/gateway/settings"
	"github.com/vendre-extend/gateway/webhook"
)

// PushConfig holds the settings of the webhook intake's pushers; see
// Config for how a field becomes a setting, and docs/settings.md.
type PushConfig struct {
	StockSinks         []string      `env:"STOCK_SINKS" help:"comma list of vendre-file, retailcrm, webhook (unset: the stock pusher is off)"`
	StockSweepEvery    time.Duration `env:"STOCK_SWEEP_EVERY, default=5m" help:"period of the ProductAvailability sweep"`
	StockWarehouses    []string      `env:"STOCK_WAREHOUSES" help:"Extend warehouses that count towards the shop's stock (unset: all)"`
	VendreStockDir     string        `env:"VENDRE_STOCK_DIR" help:"directory the stock files are written to"`
	VendreStockFTPURL  string        `env:"VENDRE_STOCK_FTP_URL" help:"ftp://user:pass@host:port/folder that Vendre polls"`
	RetailCRMURL       string        `env:"RETAILCRM_URL" help:"RetailCRM account URL (for the retailcrm sink)"`
	RetailCRMAPIKey    string        `env:"RETAILCRM_API_KEY" help:"RetailCRM API key"`
	RetailCRMStores    []string      `env:"RETAILCRM_STORES" help:"extendWarehouse:crmStoreCode,... (unset: each warehouse under its own name)"`
	StockWebhookURL    string        `env:"STOCK_WEBHOOK_URL" help:"URL of the generic stock webhook sink"`
	StockWebhookSecret string        `env:"STOCK_WEBHOOK_SECRET" help:"secret that signs the generic stock webhook (X-Signature)"`
	OrderSources       []string      `env:"ORDER_SOURCES" help:"comma list of vendre-webhook, xsale, retailcrm (unset: the order pusher is off)"`
	VendreWebhookToken string        `env:"VENDRE_WEBHOOK_TOKEN" help:"shared token Vendre sends with its order webhooks (X-Webhook-Token)"`
	// DeadLetterRetention applies to every pusher's dead letters.
	DeadLetterRetention time.Duration `env:"DEAD_LETTER_RETENTION, default=720h" help:"how long a pusher's dead letter is kept for an operator, then dropped"`

	XSaleURL            string        `env:"XSALE_URL" help:"xSale API base URL"`
	XSaleOrganization   string        `env:"XSALE_ORGANIZATION" help:"xSale organisation name"`
	XSaleTokenURL       string        `env:"XSALE_TOKEN_URL" help:"xSale OAuth token URL (password grant)"`
	XSaleClientID       string        `env:"XSALE_CLIENT_ID" help:"xSale OAuth client id"`
	XSaleClientSecret   string        `env:"XSALE_CLIENT_SECRET" help:"xSale OAuth client secret"`
	XSaleUsername       string        `env:"XSALE_USERNAME" help:"xSale API user"`
	XSalePassword       string        `env:"XSALE_PASSWORD" help:"xSale API user's password"`
	XSaleStatusNew      string        `env:"XSALE_STATUS_NEW, default=Nowe" help:"xSale status of orders to import"`
	XSaleStatusImported string        `env:"XSALE_STATUS_IMPORTED, default=Zaimportowano do ERP" help:"xSale status set after import"`
	XSaleStatusManual   string        `env:"XSALE_STATUS_MANUAL, default=Do obsługi ręcznej" help:"xSale status set when an order needs manual handling"`
	XSalePollEvery      time.Duration `env:"XSALE_POLL_EVERY, default=1m" help:"period of the xSale pull"`
	XSaleERPCustomer    string        `env:"XSALE_ERP_CUSTOMER" help:"Extend customer number marketplace orders are booked on"`
	XSaleStatusIDs      []string      `env:"XSALE_STATUS_IDS" help:"comma list of xSale status ids of orders to import (unset: XSALE_STATUS_NEW by name)"`
	XSaleCreatedFrom    string        `env:"XSALE_CREATED_FROM" help:"import only xSale orders created on or after this date, YYYY-MM-DD (unset: any date)"`
	XSaleChannels       []string      `env:"XSALE_CHANNELS" help:"comma list of xSale sales channel ids to import from (unset: every channel)"`
}

// backgroundBudget bounds one ERP read of the stock pusher: the longest
// wait for the ERP's budget that the guard grants background work
// (customers come first), and a margin for the call itself; a sweep page
// refused would start the sweep again.
const backgroundBudget = erpguard.DefaultBackgroundWait + 5*time.Second

// Names of the stock sinks (STOCK_SINKS) and order sources
// (ORDER_SOURCES) a setting may name.
var (
	stockSinks   = []string{"vendre-file", "retailcrm", "webhook"}
	orderSources = []string{"vendre-webhook", "xsale", "retailcrm"}
)

// validatePushers adds what is wrong with the pusher settings to bad.
func (c *Config) validatePushers(bad *problems) {
	p := &c.Push
	for _, check := range []func(*problems){
		c.checkPushNames, p.checkFileSink, p.checkCRMSink, p.checkWebhookSink, p.checkVendreSource, p.checkXSale,
		c.validateRetailCRM, // retailcrm.go
	} {
		check(bad)
	}
}

// checkPushNames checks STOCK_SINKS and ORDER_SOURCES, and that they have
// Redis to keep their work in.
func (c *Config) checkPushNames(bad *problems) {
	p := &c.Push
	for _, s := range p.StockSinks {
		if !slices.Contains(stockSinks, s) {
			bad.add("STOCK_SINKS", "unknown sink %q (want vendre-file, retailcrm, webhook)", s)
		}
	}
	for _, s := range p.OrderSources {
		if !slices.Contains(orderSources, s) {
			bad.add("ORDER_SOURCES", "unknown source %q (want vendre-webhook, xsale, retailcrm)", s)
		}
	}
	if (len(p.StockSinks) > 0 || len(p.OrderSources) > 0) && c.RedisURL == "" {
		bad.add("REDIS_URL", "required by STOCK_SINKS and ORDER_SOURCES (their work is kept in Redis)")
	}
}

// checkFileSink checks the vendre-file sink's directory and FTP URL.
func (p *PushConfig) checkFileSink(bad *problems) {
	if !slices.Contains(p.StockSinks, "vendre-file") {
		return
	}
	if p.VendreStockDir == "" && p.VendreStockFTPURL == "" {
		bad.add("VENDRE_STOCK_DIR", "VENDRE_STOCK_DIR or VENDRE_STOCK_FTP_URL is required for the vendre-file sink")
	}
	if p.VendreStockDir != "" {
		if fi, err := os.Stat(p.VendreStockDir); err != nil || !fi.IsDir() {
			bad.add("VENDRE_STOCK_DIR", "%q is not a directory", p.VendreStockDir)
		}
	}
	if p.VendreStockFTPURL != "" {
		if _, err := stock.NewFTPTarget(p.VendreStockFTPURL); err != nil {
			bad.add("VENDRE_STOCK_FTP_URL", "%v", err)
		}
	}
}

// checkCRMSink checks the retailcrm sink's account, and RETAILCRM_STORES.
func (p *PushConfig) checkCRMSink(bad *problems) {
	if slices.Contains(p.StockSinks, "retailcrm") {
		if err := checkURL(p.RetailCRMURL); err != nil {
			bad.add("RETAILCRM_URL", "%v", err)
		}
		if p.RetailCRMAPIKey == "" {
			bad.add("RETAILCRM_API_KEY", "required for the retailcrm sink")
		}
	}
	for _, s := range p.RetailCRMStores {
		if w, code, ok := strings.Cut(s, ":"); !ok || w == "" || code == "" {
			bad.add("RETAILCRM_STORES", "want extendWarehouse:crmStoreCode, got %q", s)
		}
	}
}

// checkWebhookSink checks the generic webhook sink's URL and secret.
func (p *PushConfig) checkWebhookSink(bad *problems) {
	if !slices.Contains(p.StockSinks, "webhook") {
		return
	}
	if err := checkURL(p.StockWebhookURL); err != nil {
		bad.add("STOCK_WEBHOOK_URL", "%v", err)
	}
	if p.StockWebhookSecret == "" {
		bad.add("STOCK_WEBHOOK_SECRET", "required for the webhook sink")
	}
}

// checkVendreSource checks the vendre-webhook source's token.
func (p *PushConfig) checkVendreSource(bad *problems) {
	if slices.Contains(p.OrderSources, "vendre-webhook") && len(p.VendreWebhookToken) < 16 {
		bad.add("VENDRE_WEBHOOK_TOKEN", "required for vendre-webhook, at least 16 characters")
	}
}

// checkXSale checks the xsale source's account, and xSale's filters
// (which are checked whether or not the source is on).
func (p *PushConfig) checkXSale(bad *problems) {
	if slices.Contains(p.OrderSources, "xsale") {
		for _, u := range []struct{ env, v string }{{"XSALE_URL", p.XSaleURL}, {"XSALE_TOKEN_URL", p.XSaleTokenURL}} {
			if err := checkURL(u.v); err != nil {
				bad.add(u.env, "%v", err)
			}
		}
		for _, r := range []struct{ env, v string }{
			{"XSALE_ORGANIZATION", p.XSaleOrganization}, {"XSALE_CLIENT_ID", p.XSaleClientID},
			{"XSALE_CLIENT_SECRET", p.XSaleClientSecret}, {"XSALE_USERNAME", p.XSaleUsername},
			{"XSALE_PASSWORD", p.XSalePassword}, {"XSALE_ERP_CUSTOMER", p.XSaleERPCustomer},
		} {
			if r.v == "" {
				bad.add(r.env, "required for the xsale order source")
			}
		}
	}
	for _, l := range []struct {
		env  string
		list []string
	}{{"XSALE_STATUS_IDS", p.XSaleStatusIDs}, {"XSALE_CHANNELS", p.XSaleChannels}} {
		if _, err := ids(l.list); err != nil {
			bad.add(l.env, "%v", err)
		}
	}
	if p.XSaleCreatedFrom != "" {
		if _, err := time.Parse(time.DateOnly, p.XSaleCreatedFrom); err != nil {
			bad.add("XSALE_CREATED_FROM", "want a date YYYY-MM-DD, got %q", p.XSaleCreatedFrom)
		}
	}
}

// pusherSet is what buildPushers made: the routes' backends and the loops
// to run in serve's errgroup.
type pusherSet struct {
	intake   *webhook.Intake // nil: EXTEND_WEBHOOK_SECRET unset
	orders   *orders.Pusher  // nil: ORDER_SOURCES unset
	crm      handlers.RetailCRM
	registry *pushers.Registry
	runs     []func(context.Context) error
}

// extendWebhooks is the intake as the handlers want it (a nil interface
// when off, not a nil pointer in one).
func (ps *pusherSet) extendWebhooks() handlers.ExtendWebhooks {
	if ps.intake == nil {
		return nil
	}
	return ps.intake
}

// vendreOrders is the Vendre order intake, nil when vendre-webhook is off.
func (ps *pusherSet) vendreOrders() handlers.VendreOrders {
	if ps.orders == nil || !slices.Contains(sourcesOf(ps.orders), "vendre-webhook") {
		return nil
	}
	return ps.orders
}

func sourcesOf(p *orders.Pusher) []string { return p.Sources() }

// ids reads a list of whole numbers >= 1 (xSale's ids).
func ids(list []string) ([]int, error) {
	var out []int
	for _, s := range list {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("want a comma list of ids (whole numbers), got %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// must drops the error of a value Validate checked already.
func must[T any](v T, _ error) T { return v }

// retailcrmCallbacks is what answers RetailCRM's callbacks, nil when the
// module is not configured.
func (ps *pusherSet) retailcrmCallbacks() handlers.RetailCRM {
	if ps.crm == nil {
		return nil
	}
	return ps.crm
}

// buildPushers builds the Extend webhook intake and consumer, the stock
// pusher and the order pusher that cfg asks for. rdb nil (no Redis) means
// webhooks answer 503 and no pusher runs (Validate refused pushers without
// Redis). ref is what order and invoice events refresh (the pull service);
// obs, when not nil, counts webhook outcomes; hooks are the connectors'
// order sources (the order pusher runs for them too).
func buildPushers(cfg *Config, rdb redis.UniversalClient, client *erp.Client, ref webhook.Refresher, obs webhook.Observer, hooks orderHooks, log *slog.Logger) (*pusherSet, error) {
	crm, err := newRetailCRMClient(cfg) // retailcrm.go; nil without RETAILCRM_URL
	if err != nil {
		return nil, err
	}
	b := &pusherBuild{cfg: cfg, rdb: rdb, client: client, crm: crm, log: log, ps: &pusherSet{}}
	sp, err := b.stockPusher()
	if err != nil {
		return nil, err
	}
	b.orderPusher(hooks)
	var sweeper retailcrm.StockSweeper // RetailCRM's callbacks sweep the stock into its sink
	if sp != nil && slices.Contains(cfg.Push.StockSinks, "retailcrm") {
		sweeper = sp
	}
	b.crmModule(sweeper)
	var balances webhook.Balances // nil: no stock pusher to hear of balances
	if sp != nil {
		balances = sp
	}
	b.webhooks(ref, obs, balances)
	b.ps.registry = pushers.NewRegistry(b.all...)
	if len(b.all) > 0 {
		p := cfg.Push
		log.Info("pushers", "names", names(b.all), "stock_sinks", p.StockSinks, "order_sources", p.OrderSources,
			"vendre_stock_ftp_url", settings.RedactURL(p.VendreStockFTPURL), "stock_sweep_every", p.StockSweepEvery.String())
	}
	return b.ps, nil
}

// pusherBuild is buildPushers at work: what each step needs, and what the
// steps made so far.
type pusherBuild struct {
	cfg    *Config
	rdb    redis.UniversalClient
	client *erp.Client
	crm    *retailcrm.Client // nil: nothing uses RetailCRM
	log    *slog.Logger

	ps  *pusherSet
	all []pushers.Pusher // for the registry (/admin/pushers, /metrics)
}

// add notes a pusher built, and its loop.
func (b *pusherBuild) add(p pushers.Pusher, run func(context.Context) error) {
	b.all = append(b.all, p)
	b.ps.runs = append(b.ps.runs, run)
}

// stockPusher builds the stock pusher of STOCK_SINKS; nil when off.
func (b *pusherBuild) stockPusher() (*stock.Pusher, error) {
	p := b.cfg.Push
	if len(p.StockSinks) == 0 || b.rdb == nil {
		return nil, nil
	}
	var sinks []stock.Sink
	for _, name := range p.StockSinks {
		sink, err := b.stockSink(name)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, sink)
	}
	sp := stock.New(b.rdb, b.client, sinks, stock.Config{
		Prefix: b.cfg.queuePrefix(), SweepEvery: p.StockSweepEvery, Warehouses: p.StockWarehouses,
		Budget: backgroundBudget, Logger: b.log.With("pusher", "stock"),
		DeadLetterRetention: p.DeadLetterRetention,
	})
	b.add(sp, sp.Run)
	return sp, nil
}

// stockSink builds the sink called name (Validate checked the names).
func (b *pusherBuild) stockSink(name string) (stock.Sink, error) {
	p := b.cfg.Push
	switch name {
	case "vendre-file":
		var targets []stock.FileTarget
		if p.VendreStockDir != "" {
			targets = append(targets, stock.DirTarget{Dir: p.VendreStockDir})
		}
		if p.VendreStockFTPURL != "" {
			t, err := stock.NewFTPTarget(p.VendreStockFTPURL)
			if err != nil {
				return nil, fmt.Errorf("config: VENDRE_STOCK_FTP_URL: %w", err)
			}
			targets = append(targets, t)
		}
		return stock.NewFileSink(stock.RedisSeq(b.rdb, stock.SeqKey(b.cfg.queuePrefix())), targets...), nil
	case "retailcrm":
		return stock.NewRetailCRM(b.crm, crmStores(p)), nil
	case "webhook":
		return stock.NewWebhook(p.StockWebhookURL, p.StockWebhookSecret, nil), nil
	}
	return nil, fmt.Errorf("config: STOCK_SINKS: unknown sink %q", name)
}

// orderPusher builds the order pusher of ORDER_SOURCES and the
// connectors' sources (hooks); none when there are none.
func (b *pusherBuild) orderPusher(hooks orderHooks) {
	p := b.cfg.Push
	if (len(p.OrderSources) == 0 && len(hooks.sources) == 0) || b.rdb == nil {
		return
	}
	sources := hooks.sources
	for _, name := range p.OrderSources {
		sources = append(sources, b.orderSource(name, hooks))
	}
	op := orders.New(b.rdb, b.client, sources, orders.Config{
		// A create waits for the ERP's budget at most EXTEND_TIMEOUT (its
		// claim must outlive it); refused, it is tried again when the
		// budget frees, without counting a try.
		Prefix: b.cfg.queuePrefix(), Budget: b.cfg.ExtendTimeout, Logger: b.log.With("pusher", "orders"),
		DeadLetterRetention: p.DeadLetterRetention,
	})
	b.ps.orders = op
	b.add(op, op.Run)
}

// orderSource builds the source called name (Validate checked the names).
func (b *pusherBuild) orderSource(name string, hooks orderHooks) orders.Source {
	cfg, p := b.cfg, b.cfg.Push
	switch name {
	case "vendre-webhook":
		v := orders.NewVendre(p.VendreWebhookToken, cfg.Location)
		if hooks.vendreImported != nil {
			v.OnImported(hooks.vendreImported)
		}
		return v
	case "xsale":
		return orders.NewXSale(orders.XSaleConfig{
			BaseURL: p.XSaleURL, Organization: p.XSaleOrganization, TokenURL: p.XSaleTokenURL,
			ClientID: p.XSaleClientID, ClientSecret: p.XSaleClientSecret,
			Username: p.XSaleUsername, Password: p.XSalePassword,
			StatusNew: p.XSaleStatusNew, StatusImported: p.XSaleStatusImported, StatusManual: p.XSaleStatusManual,
			Customer: p.XSaleERPCustomer, PollEvery: p.XSalePollEvery, Location: cfg.Location,
			StatusIDs: must(ids(p.XSaleStatusIDs)), CreatedFrom: p.XSaleCreatedFrom, Channels: must(ids(p.XSaleChannels)),
			Catalog: orders.NewCatalog(b.client, 0), // every product checked in Extend before a create
		})
	}
	// "retailcrm"
	if !cfg.CRM.Module() {
		b.log.Warn("retailcrm: shipments are not reported: RetailCRM takes order[shipped] only from a registered module (set RETAILCRM_MODULE_CODE and RETAILCRM_CLIENT_ID)")
	} else if shipmentStore(p) == "" {
		b.log.Warn("retailcrm: orders that name no shipment store cannot be reported shipped: set RETAILCRM_STORES or STOCK_WAREHOUSES")
	}
	return orders.NewRetailCRM(b.crm, orders.RetailCRMConfig{
		StatusNew: cfg.CRM.StatusNew, StatusImported: cfg.CRM.StatusImported, StatusManual: cfg.CRM.StatusManual,
		Customer: cfg.CRM.ERPCustomer, PollEvery: cfg.CRM.PollEvery, Location: cfg.Location,
		Shipments: cfg.CRM.Module(), ShipmentStore: shipmentStore(p),
	})
}

// crmModule builds the RetailCRM warehouse module's registrar and
// callbacks, when RETAILCRM_MODULE_CODE is set; sweeper is the stock
// pusher when it feeds the retailcrm sink.
func (b *pusherBuild) crmModule(sweeper retailcrm.StockSweeper) {
	cfg := b.cfg
	if !cfg.CRM.Module() || b.rdb == nil {
		return
	}
	reg := retailcrm.NewRegistrar(b.rdb, b.crm, warehouseModule(cfg), retailcrm.RegistrarConfig{
		Prefix: b.cfg.queuePrefix(), Logger: b.log.With("pusher", "retailcrm-module"),
		DeadLetterRetention: cfg.Push.DeadLetterRetention})
	b.ps.crm = retailcrm.NewCallbacks(cfg.CRM.ClientID, sweeper)
	b.add(reg, reg.Run)
}

// webhooks builds the Extend webhook intake when EXTEND_WEBHOOK_SECRET is
// set, and its consumer when there is Redis to record deliveries in.
func (b *pusherBuild) webhooks(ref webhook.Refresher, obs webhook.Observer, balances webhook.Balances) {
	cfg := b.cfg
	if len(cfg.WebhookSecrets) == 0 {
		return
	}
	opts := webhook.Options{Prefix: b.cfg.queuePrefix(), Observer: obs}
	b.ps.intake = webhook.NewIntake(b.rdb, cfg.WebhookSecrets, opts)
	if b.rdb == nil {
		b.log.Warn("EXTEND_WEBHOOK_SECRET is set but REDIS_URL is not: webhooks answer 503 (they must be recorded durably)")
		return
	}
	var picks webhook.Picks
	if b.ps.orders != nil {
		picks = b.ps.orders // OrderPicked of an order whose shop wants to hear of it
	}
	c := webhook.NewConsumer(b.rdb, ref, balances, webhook.ConsumerOptions{
		Options: opts, Budget: 3 * cfg.ExtendTimeout, Logger: b.log.With("pusher", "webhooks"), Picks: picks,
		DeadLetterRetention: cfg.Push.DeadLetterRetention, Intake: b.ps.intake,
	})
	b.add(c, c.Run)
}

func names(ps []pushers.Pusher) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	return out
}

// pushersCmd is `gateway pushers [replay NAME]`: the pushers' status, or
// a re-drive of one, through the running gateway's admin API.
func pushersCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pushers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base, token := adminFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	call := func(c *admin.Client) ([]byte, error) { return c.Pushers(ctx) }
	switch rest := fs.Args(); {
	case len(rest) == 0:
	case len(rest) == 2 && rest[0] == "replay":
		call = func(c *admin.Client) ([]byte, error) { return c.Replay(ctx, rest[1]) }
	default:
		return errors.New("pushers: usage: gateway pushers [-url U] [replay NAME]")
	}
	if *token == "" {
		return errors.New("pushers: ADMIN_TOKEN is required")
	}
	return adminCall("pushers", *base, *token, stdout, call)
}
