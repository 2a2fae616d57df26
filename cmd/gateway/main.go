// Command gateway serves Vendre's pull API from Extend Commerce.
//
// With nothing configured it starts in demo mode: an in-process simulated
// Extend Commerce with sample data, and an in-memory cache. See README.md
// and docs/ (settings.md, api.md) for the settings and commands.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // TIMEZONE works in a minimal image too

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/erpguard"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/mapping"
	"github.com/vendre-extend/gateway/pull"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/ratelimit"
	"github.com/vendre-extend/gateway/schemas"
	"github.com/vendre-extend/gateway/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run parses the command line and runs the chosen command until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		cfg, _, err := parseConfig("gateway", args, getenv, stderr)
		if err != nil {
			return err
		}
		out := telemetry.NewBufferedLog(stderr, 200*time.Millisecond)
		defer out.Close()
		log := telemetry.NewLogger(out, cfg.LogLevel)
		return serve(ctx, cfg, log, nil)
	case "probe":
		return probe(ctx, args, getenv, stdout, stderr)
	case "flush":
		return flush(ctx, args, getenv, stdout, stderr)
	case "pushers":
		return pushersCmd(ctx, args, getenv, stdout, stderr)
	case "retailcrm":
		return retailcrmCmd(ctx, args, getenv, stdout, stderr)
	case "erp":
		return erpCmd(ctx, args, getenv, stdout, stderr)
	}
	return fmt.Errorf("gateway: unknown command %q (want serve, probe, flush, pushers, retailcrm or erp)", cmd)
}

// serve runs the gateway until ctx ends, then shuts down gracefully:
// in-flight requests finish first. listening, if not nil, is told each
// listener's name ("http", "metrics") and address once it listens.
func serve(ctx context.Context, cfg *Config, log *slog.Logger, listening func(name, addr string)) error {
	log.Info("starting", cfg.LogValue()...)
	// Telemetry first, so that everything below is traced and measured.
	// Its gauges read the parts once built; scrapes come later.
	p := &parts{}
	tel, errLog, log, stopTelemetry, err := startTelemetry(ctx, log, p.gauges(cfg))
	if err != nil {
		return err
	}
	defer stopTelemetry()
	p.tel, p.errLog = tel, errLog

	demo := cfg.Demo() // startDemoERP points cfg at the simulator
	if demo {
		stopSim, err := startDemoERP(cfg, log)
		if err != nil {
			return err
		}
		defer stopSim()
	}
	closeRedis, err := p.openRedis(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	if err := p.build(ctx, cfg, demo, log); err != nil {
		return err
	}
	servers, err := listen(cfg, p.tel, p.handler(cfg, log), log, listening)
	if err != nil {
		return err
	}
	return runAll(ctx, cfg, servers, p.loops(), log)
}

// parts are what serve builds, in this order. Telemetry's gauges and the
// status page read them at each scrape: nil until built.
type parts struct {
	tel    *telemetry.Telemetry
	errLog *handlers.ErrorLog
	shared redis.UniversalClient // REDIS_URL's; nil: one replica, limits kept in process
	tier   *cache.Redis          // the cache's Redis tier; nil without Redis
	engine *cache.Cache
	guard  *erpguard.Guard
	svc    *pull.Service
	links  *doclink.Signer
	bl     *blWiring
	ps     *pusherSet
}

// gauges are what telemetry reads of the parts at each scrape.
func (p *parts) gauges(cfg *Config) telemetry.Options {
	o := telemetry.Options{
		CircuitOpen: func() bool { return p.guard != nil && p.guard.Open() },
		Pushers:     pusherStats(p.pusherFigures()),
		ERPPaused: func(ctx context.Context) map[string]time.Duration {
			if p.guard == nil {
				return nil
			}
			return p.guard.Paused(ctx)
		},
		ERPBudget: func() []telemetry.BudgetStat { return budgetStats(p.guard) },
	}
	if cfg.RedisURL != "" {
		o.RedisDown = func() bool { return p.engine != nil && p.engine.RedisDown() }
	}
	return o
}

// pusherFigures reads the pushers' states, once they are built.
func (p *parts) pusherFigures() func(context.Context) []pushers.Status {
	return pusherFigures(func() *pushers.Registry {
		if p.ps == nil {
			return nil
		}
		return p.ps.registry
	})
}

// openRedis opens REDIS_URL's Redis, if set, for the cache's shared tier,
// the ERP's shared budget and the durable work; close closes it.
func (p *parts) openRedis(ctx context.Context, cfg *Config, log *slog.Logger) (close func(), err error) {
	rdb, close, err := openRedis(ctx, cfg, log)
	if err != nil || rdb == nil {
		return close, err
	}
	if err := moveLegacyKeys(ctx, cfg, rdb, log); err != nil {
		close()
		return nil, err
	}
	if err := p.tel.InstrumentRedis(rdb); err != nil {
		close()
		return nil, fmt.Errorf("telemetry: redis: %w", err)
	}
	p.shared, p.tier = rdb, cache.NewRedis(rdb, cfg.cachePrefix())
	return close, nil
}

// build makes the cache, the ERP's guard and client, the pull service,
// the Baselinker connector, the webhook intake and the pushers.
func (p *parts) build(ctx context.Context, cfg *Config, demo bool, log *slog.Logger) error {
	// The cache: an in-process tier, in front of Redis when configured;
	// flushes reach every replica's through Redis (engine.Run, loops).
	p.engine = cache.New(cache.Config{
		Memory: cache.NewMemory(128 << 20), Redis: p.tier,
		StaleFor: cfg.CacheStaleFor, Budget: cfg.ExtendTimeout,
		FeedLag: cfg.CacheSweepEvery, KeepFor: cfg.CacheKeepFor,
		// A renewal serves nobody waiting: the ERP's budget goes to
		// waiting callers first.
		Renewal:  func(ctx context.Context) context.Context { return erp.WithClass(ctx, erp.Refresh) },
		Observer: p.tel.CacheObserver(), Logger: log,
	})
	// The ERP's guard: circuit breaker, the budget per Extend group by
	// class and fair share (shared through Redis), bulkhead; only
	// EXTEND_BASE_URL's host. Its circuit is the gateway's one notion of
	// the ERP being down. Guard outside, telemetry inside: only real
	// calls are measured.
	guard, erpHTTP := newGuard(cfg, p.shared, log, erpHTTPClient(p.tel))
	p.guard = guard
	client, err := newERP(cfg, erpHTTP, log)
	if err != nil {
		return err
	}
	key, err := documentKey(cfg, demo, log)
	if err != nil {
		return err
	}
	if p.svc, p.links, err = newPull(cfg, client, p.engine, key, log); err != nil {
		return err
	}
	// Webhook intake and the pushers (pushers.go); their loops join serve's.
	// The Baselinker connector (baselinker.go): its order source joins the
	// order pusher.
	p.bl = &blWiring{conn: newBaselinker(ctx, cfg, client, p.tier, p.shared, log)}
	p.ps, err = buildPushers(cfg, p.shared, client, refresher{p.svc, p.bl.conn}, webhookObserver{p.tel}, p.bl.hooks(), log)
	return err
}

// handler is the public listener's handler: the routes (handlers.New)
// inside telemetry's server span.
func (p *parts) handler(cfg *Config, log *slog.Logger) http.Handler {
	var redisHealth handlers.RedisHealth // nil: no Redis, nothing to report
	if p.tier != nil {
		redisHealth = p.engine
	}
	e := handlers.New(handlers.Deps{
		ExtendWebhooks: p.ps.extendWebhooks(), VendreOrders: p.ps.vendreOrders(), Pushers: p.ps.registry,
		RetailCRM: p.ps.retailcrmCallbacks(), Baselinker: p.bl.handler(p.ps.orders),
		Pull: p.svc, ERP: p.guard, Redis: redisHealth,
		APIKeys: cfg.VendreAPIKeys, Shape: cfg.Shape(), AdminToken: cfg.AdminToken,
		Location: cfg.Location, Logger: log,
		Extended: p.svc,
		Metrics:  publicMetrics(cfg, p.tel.MetricsHandler()), MeterProvider: p.tel.MeterProvider(),
		Status: handlers.StatusSources{CacheStats: p.engine.Stats, Errors: p.errLog, Pushers: pusherLines(p.pusherFigures()),
			ERPCalls:   func() []handlers.ClassCalls { return classCalls(p.guard) },
			SweepEvery: cfg.CacheSweepEvery, Confirmed: p.engine.Confirmed},
		Pauses: p.guard,

		AuthThrottle:   handlers.NewAuthThrottle(cfg.AuthFailureLimit, log),
		TrustedProxies: cfg.TrustedProxyNets,
		KeyLimit:       keyLimiter(newLimiter(cfg.RateLimitPerKey)),
		Documents: handlers.DocumentLimitConfig{
			Owner:       p.links.Parse,
			PerDocument: rateLimiter(newLimiter(cfg.RateLimitPerDocument)),
			PerCustomer: rateLimiter(newLimiter(cfg.RateLimitDocsPerCustomer)),
		},
	})
	return p.tel.Handler(e) // a server span per request
}

// loops are the background work that runs until serve stops: the cache
// hears of the other replicas' flushes (Redis pub/sub), the pull service
// sweeps Extend's changes (one replica at a time), and the webhook
// consumer, the stock and order pushers and the RetailCRM module run.
func (p *parts) loops() []func(context.Context) error {
	return append([]func(context.Context) error{p.engine.Run, p.svc.RunSweeps}, p.ps.runs...)
}

// listen opens the public listener serving h, and the metrics one when
// METRICS_ADDR is set (then /metrics is served there only).
func listen(cfg *Config, tel *telemetry.Telemetry, h http.Handler, log *slog.Logger, listening func(name, addr string)) ([]*listener, error) {
	servers := []*listener{{name: "http", env: "LISTEN_ADDR", addr: cfg.ListenAddr, srv: newServer(h, cfg, log)}}
	if cfg.MetricsAddr != "" {
		servers = append(servers, &listener{name: "metrics", env: "METRICS_ADDR", addr: cfg.MetricsAddr,
			srv: newServer(handlers.NewMetrics(tel.MetricsHandler(), log), cfg, log)})
	}
	for i, l := range servers {
		var err error
		if l.ln, err = net.Listen("tcp", l.addr); err != nil {
			for _, o := range servers[:i] {
				_ = o.ln.Close()
			}
			return nil, fmt.Errorf("config: %s: %w", l.env, err)
		}
		log.Info("listening", "listener", l.name, "addr", l.ln.Addr().String())
		if listening != nil {
			listening(l.name, l.ln.Addr().String())
		}
	}
	return servers, nil
}

// runAll serves on servers and runs loops until ctx ends or one of them
// fails, then shuts the servers down, giving in-flight requests up to
// EXTEND_TIMEOUT and 10s to finish.
func runAll(ctx context.Context, cfg *Config, servers []*listener, loops []func(context.Context) error, log *slog.Logger) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range servers {
		g.Go(func() error {
			if err := l.srv.Serve(handlers.JSONErrors(l.ln)); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	for _, run := range loops {
		g.Go(func() error { return run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ExtendTimeout+10*time.Second)
		defer cancel()
		var errs []error
		for _, l := range servers {
			errs = append(errs, l.srv.Shutdown(sctx))
		}
		return errors.Join(errs...)
	})
	err := g.Wait()
	log.Info("stopped")
	return err
}

// openRedis opens REDIS_URL's Redis, one server or a cluster; nil, and a
// close that does nothing, when REDIS_URL is unset. A Redis that does not
// answer is logged, not an error: the gateway serves without it until it
// does (a Redis outage must not stop My Account).
func openRedis(ctx context.Context, cfg *Config, log *slog.Logger) (redis.UniversalClient, func(), error) {
	if cfg.RedisURL == "" {
		return nil, func() {}, nil
	}
	u, err := cache.ParseRedisURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("config: REDIS_URL: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	rdb, err := u.Open(pctx, redisTimeouts())
	cancel()
	if err != nil {
		log.Warn("redis does not answer; serving without it until it does", "err", err)
	}
	_, isCluster := rdb.(*redis.ClusterClient)
	log.Info("redis", "cluster", isCluster, "addrs", u.Addrs())
	return rdb, func() { _ = rdb.Close() }, nil
}

// moveLegacyKeys moves durable work recorded by a release before the
// queues' hash tags to the tagged names, once (a no-op after), when Redis
// answers; a Redis that does not answer has nothing to move yet.
func moveLegacyKeys(ctx context.Context, cfg *Config, rdb redis.UniversalClient, log *slog.Logger) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if rdb.Ping(pctx).Err() != nil {
		return nil
	}
	moved, kept, err := pushers.RenameLegacyKeys(ctx, rdb, cfg.queuePrefix())
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if moved > 0 || len(kept) > 0 {
		log.Warn("redis: moved durable work to hash-tagged keys", "moved", moved, "kept_old", kept)
	}
	return nil
}

// newERP is the Extend Commerce client of EXTEND_BASE_URL, sending through
// hc (the guard's). log nil discards its retries.
func newERP(cfg *Config, hc *http.Client, log *slog.Logger) (*erp.Client, error) {
	client, err := erp.New(erp.Config{
		BaseURL:      cfg.ExtendBaseURL,
		ClientID:     cfg.ExtendClientID,
		ClientSecret: cfg.ExtendClientSecret,
		Logger:       log,
		HTTPClient:   hc,
	})
	if err != nil {
		return nil, fmt.Errorf("config: EXTEND_BASE_URL: %w", err)
	}
	return client, nil
}

// newPull is the pull service over client and engine: the schemas, the
// mapping of LOCALE, CURRENCY and TIMEZONE, and pdf_link tokens signed
// with key (links, which the document routes check).
func newPull(cfg *Config, client *erp.Client, engine *cache.Cache, key []byte, log *slog.Logger) (*pull.Service, *doclink.Signer, error) {
	set, err := schemas.Load()
	if err != nil {
		return nil, nil, err
	}
	mapper, err := mapping.New(mapping.Options{Locale: cfg.Locale, Currency: cfg.Currency, Location: cfg.Location})
	if err != nil {
		return nil, nil, fmt.Errorf("config: LOCALE/CURRENCY: %w", err)
	}
	links := doclink.New(key, cfg.PublicBaseURL, nil)
	svc := pull.New(client, engine, set, mapper, links, pull.Config{
		TTLList: cfg.CacheTTLList, TTLDetail: cfg.CacheTTLDetail, Budget: cfg.ExtendTimeout,
		SweepEvery: cfg.CacheSweepEvery,
	}, log)
	return svc, links, nil
}

// listener is one of the gateway's HTTP listeners.
type listener struct {
	name, env, addr string // "http", "LISTEN_ADDR", ":8080"
	srv             *http.Server
	ln              net.Listener
}

// newServer is the http.Server of every listener: timeouts against slow
// or idle callers, 64 KiB of headers at most.
func newServer(h http.Handler, cfg *Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.ExtendTimeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// documentKey is the key of pdf_link tokens. It is derived from
// DOCUMENT_SECRET, else from EXTEND_CLIENT_SECRET: every replica has the
// same, so a link made by one opens on all. In demo mode without
// DOCUMENT_SECRET it is drawn at random at each start, since the
// simulator's client secret is in the source for anyone to read: a link
// then opens only on the process that made it, until it stops. Several
// demo replicas need DOCUMENT_SECRET.
func documentKey(cfg *Config, demo bool, log *slog.Logger) ([]byte, error) {
	switch {
	case cfg.DocumentSecret != "":
		return doclink.DeriveKey(cfg.DocumentSecret), nil
	case !demo:
		return doclink.DeriveKey(cfg.ExtendClientSecret), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("demo: document key: %w", err)
	}
	log.Info("demo mode: pdf_link tokens are signed with a key drawn at start; set DOCUMENT_SECRET to share it between replicas or restarts")
	return key, nil
}

// publicMetrics is what the public listener serves at /metrics: nothing
// (404) when METRICS_ADDR puts metrics on a listener of their own.
func publicMetrics(cfg *Config, metrics http.Handler) http.Handler {
	if cfg.MetricsAddr != "" {
		return nil
	}
	return metrics
}

// startDemoERP starts the simulated Extend Commerce on a loopback port and
// points cfg at it, so demo mode runs the production client over real HTTP.
func startDemoERP(cfg *Config, log *slog.Logger) (stop func(), err error) {
	const id, secret = "demo-client", "demo-secret"
	sim := extendsim.New(extendsim.Options{ClientID: id, ClientSecret: secret})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	cfg.ExtendBaseURL = "http://" + ln.Addr().String()
	cfg.ExtendClientID, cfg.ExtendClientSecret = id, secret
	cfg.VendreAPIKeys = append(cfg.VendreAPIKeys, demoKey)
	if !cfg.ExtendRateLimit.Enabled() {
		n, per := sim.Limit() // spend the simulator's budget as Extend's
		cfg.ExtendRateLimit.Limit = ratelimit.Limit{N: n, Per: per}
	}
	log.Info("demo mode: simulated Extend Commerce with sample data",
		"erp", cfg.ExtendBaseURL, "api_key", demoKey, "customers", sim.SampleCustomers(),
		"try", "curl -H 'X-Api-Key: demo' 'localhost"+portOf(cfg.ListenAddr)+"/v1/orders?customer_no=10001'")
	return func() { _ = srv.Close() }, nil
}

func portOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i:]
	}
	return ""
}

// redisTimeouts make Redis fail fast when it is down, one server or a
// cluster's node: the gateway then answers from memory and the ERP
// instead of waiting on go-redis's default retries.
func redisTimeouts() cache.Timeouts {
	return cache.Timeouts{Dial: 500 * time.Millisecond, Read: 500 * time.Millisecond, Write: 500 * time.Millisecond,
		DialerRetries: 1, MaxRetries: 1}
}
