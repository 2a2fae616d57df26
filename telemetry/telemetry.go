// Package telemetry gives the gateway its OpenTelemetry traces and metrics:
// a tracer provider (W3C trace context in and out; OTLP export only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, nothing exported otherwise), a meter
// provider read by the Prometheus exporter behind /metrics, and the
// gateway's own instruments: the cache (a cache.Observer), the ERP calls (an
// http.RoundTripper), the circuit, webhooks and pushers; and the buffered
// writer under the JSON log (log.go).
//
// Metric names follow the OTel semantic conventions; Prometheus sees them
// through the exporter's translation (gateway.cache.requests, unit
// {request} → gateway_cache_requests_total), which is what the contract's
// Metrics section lists. Every label has a small, fixed set of values: no
// customer numbers, order numbers or tokens ever become a label.
//
// Nothing here is global: New builds the providers, the caller passes them
// on (otel's global providers are left alone), and Shutdown flushes them.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vendre-extend/gateway/erp"
)

// ScopeName is the instrumentation scope of the gateway's own spans and
// metrics.
const ScopeName = "github.com/vendre-extend/gateway"

// DefaultServiceName is service.name when Options leaves it empty.
const DefaultServiceName = "vendre-extend-gateway"

// Options configure New. The zero value is valid: no export, metrics at
// MetricsHandler, and the circuit and pusher gauges silent.
type Options struct {
	// ServiceName and Version describe the process (service.name,
	// service.version). ServiceName defaults to DefaultServiceName.
	ServiceName, Version string
	// Getenv reads OTEL_EXPORTER_OTLP_ENDPOINT and
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; nil means os.Getenv. When both are
	// empty no span leaves the process (trace IDs are still made, for the
	// logs). The exporter itself reads the other OTEL_EXPORTER_OTLP_*
	// variables (headers, timeout) from the process environment.
	Getenv func(string) string
	// SpanProcessor, when set, also receives every span, export or not
	// (tests pass tracetest.NewSpanRecorder()).
	SpanProcessor sdktrace.SpanProcessor
	// CircuitOpen reports whether the ERP circuit breaker is open, for
	// gateway_erp_circuit_open; nil leaves the gauge out.
	CircuitOpen func() bool
	// RedisDown reports whether Redis is down (cache.Cache.RedisDown), for
	// gateway_redis_down; nil (no Redis) leaves the gauge out.
	RedisDown func() bool
	// Pushers reports every pusher's backlog and dead letters, for
	// gateway_pusher_backlog and gateway_pusher_dead_letters; nil leaves
	// them out. It is called at each scrape: it must be quick.
	Pushers func() []PusherStat
	// ERPPaused reports how long each Extend rate-limit group stays
	// paused at Extend's request, for gateway_erp_paused_seconds{group};
	// nil leaves it out. It is called at each scrape: it must be quick.
	ERPPaused func(ctx context.Context) map[string]time.Duration
	// ERPBudget reports the ERP calls the guard sent and refused by
	// class since start, for gateway_erp_budget_calls_total{class,
	// decision}; nil leaves it out.
	ERPBudget func() []BudgetStat
}

// BudgetStat is one class's ERP calls at a scrape.
type BudgetStat struct {
	Class         string // the class label: interactive, refresh, background
	Sent, Refused int64
}

// pauseGroups are the group label's values of gateway_erp_paused_seconds:
// Extend's rate-limit groups as erp.RateGroup names them.
var pauseGroups = []string{erp.RateGroupSales, erp.RateGroupProducts, erp.RateGroupOther}

// PusherStat is one pusher's figures at a scrape.
type PusherStat struct {
	Name        string // the pusher label, e.g. "stock"
	Backlog     int64  // items waiting
	DeadLetters int64  // items given up on, kept for replay
}

// Telemetry holds the providers and the gateway's instruments. It is safe
// for concurrent use.
type Telemetry struct {
	tp        *sdktrace.TracerProvider
	mp        *sdkmetric.MeterProvider
	reg       *prometheus.Registry
	prop      propagation.TextMapPropagator
	exporting bool
	recording bool // spans are sampled: exported or recorded
	tracer    trace.Tracer
	meter     metric.Meter

	cache      *CacheObserver
	erp        *erpInstruments
	webhooks   metric.Int64Counter
	pushBatch  metric.Int64Counter
	callbackRe metric.Registration
}

// New builds the providers and instruments. It fails only when an
// instrument or the OTLP exporter cannot be made (a malformed
// OTEL_EXPORTER_OTLP_* setting); it makes no network call.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	if o.ServiceName == "" {
		o.ServiceName = DefaultServiceName
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", o.ServiceName)}
	if o.Version != "" {
		attrs = append(attrs, attribute.String("service.version", o.Version))
	}
	res := resource.NewSchemaless(attrs...)
	t := &Telemetry{
		reg:  prometheus.NewRegistry(),
		prop: propagation.TraceContext{},
	}

	// Traces. Without a destination nothing is sampled: spans cost little
	// more than their IDs, which the request log still shows.
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if o.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || o.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
		t.exporting = true
	}
	if o.SpanProcessor != nil {
		topts = append(topts, sdktrace.WithSpanProcessor(o.SpanProcessor))
	}
	sampler := sdktrace.NeverSample()
	t.recording = t.exporting || o.SpanProcessor != nil
	if t.recording {
		sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	topts = append(topts, sdktrace.WithSampler(sampler))
	t.tp = sdktrace.NewTracerProvider(topts...)
	t.tracer = t.tp.Tracer(ScopeName)

	// Metrics: pulled by Prometheus from our own registry, with the Go
	// runtime and process collectors beside them.
	t.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := promexporter.New(promexporter.WithRegisterer(t.reg), promexporter.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	t.mp = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(exp),
		// Exemplars are not shown in the text exposition; skipping them
		// keeps every measurement on the hot path allocation-free.
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter),
	)
	t.meter = t.mp.Meter(ScopeName)
	if err := t.instruments(o); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return t, nil
}

// instruments makes every instrument of the gateway.
func (t *Telemetry) instruments(o Options) error {
	var err error
	if t.cache, err = newCacheObserver(t.meter); err != nil {
		return err
	}
	if t.erp, err = newERPInstruments(t.meter); err != nil {
		return err
	}
	if t.webhooks, err = t.meter.Int64Counter("gateway.webhooks",
		metric.WithUnit("{delivery}"),
		metric.WithDescription("Webhook deliveries received, by source, action and outcome.")); err != nil {
		return err
	}
	if t.pushBatch, err = t.meter.Int64Counter("gateway.pusher.batches",
		metric.WithUnit("{batch}"),
		metric.WithDescription("Pusher batches run, by pusher and outcome.")); err != nil {
		return err
	}
	circuit, err := t.meter.Int64ObservableGauge("gateway.erp.circuit_open",
		metric.WithDescription("1 while the ERP circuit breaker is open (calls are not made), else 0."))
	if err != nil {
		return err
	}
	redisDown, err := t.meter.Int64ObservableGauge("gateway.redis.down",
		metric.WithDescription("1 while Redis is down (the cache serves from memory and the ERP), else 0."))
	if err != nil {
		return err
	}
	backlog, err := t.meter.Int64ObservableGauge("gateway.pusher.backlog",
		metric.WithUnit("{item}"),
		metric.WithDescription("Items waiting in each pusher's queue."))
	if err != nil {
		return err
	}
	dead, err := t.meter.Int64ObservableGauge("gateway.pusher.dead_letters",
		metric.WithUnit("{item}"),
		metric.WithDescription("Items each pusher gave up on, kept for replay."))
	if err != nil {
		return err
	}
	paused, err := t.meter.Float64ObservableGauge("gateway.erp.paused",
		metric.WithUnit("s"),
		metric.WithDescription("Seconds left of the pause Extend asked for (429, Retry-After), by rate-limit group; 0 when not paused."))
	if err != nil {
		return err
	}
	budget, err := t.meter.Int64ObservableCounter("gateway.erp.budget.calls",
		metric.WithUnit("{call}"),
		metric.WithDescription("ERP calls the budget sent or refused, by class (interactive, refresh, background) and decision."))
	if err != nil {
		return err
	}
	t.callbackRe, err = t.meter.RegisterCallback(func(ctx context.Context, ob metric.Observer) error {
		if o.ERPPaused != nil {
			p := o.ERPPaused(ctx)
			for _, g := range pauseGroups {
				ob.ObserveFloat64(paused, p[g].Seconds(), metric.WithAttributeSet(attribute.NewSet(attribute.String("group", g))))
			}
		}
		if o.ERPBudget != nil {
			for _, b := range o.ERPBudget() {
				ob.ObserveInt64(budget, b.Sent, metric.WithAttributeSet(attribute.NewSet(attribute.String("class", b.Class), attribute.String("decision", "sent"))))
				ob.ObserveInt64(budget, b.Refused, metric.WithAttributeSet(attribute.NewSet(attribute.String("class", b.Class), attribute.String("decision", "refused"))))
			}
		}
		if o.CircuitOpen != nil {
			var v int64
			if o.CircuitOpen() {
				v = 1
			}
			ob.ObserveInt64(circuit, v)
		}
		if o.RedisDown != nil {
			var v int64
			if o.RedisDown() {
				v = 1
			}
			ob.ObserveInt64(redisDown, v)
		}
		if o.Pushers != nil {
			for _, p := range o.Pushers() {
				set := metric.WithAttributeSet(attribute.NewSet(attribute.String("pusher", p.Name)))
				ob.ObserveInt64(backlog, p.Backlog, set)
				ob.ObserveInt64(dead, p.DeadLetters, set)
			}
		}
		return nil
	}, circuit, redisDown, backlog, dead, paused, budget)
	return err
}

// TracerProvider returns the provider of every span of the gateway.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the provider of every metric of the gateway.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Propagator returns the W3C trace context propagator used in and out.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// Tracer returns the gateway's own tracer, for spans of webhook handling
// and pusher batches.
func (t *Telemetry) Tracer() trace.Tracer { return t.tracer }

// Exporting reports whether spans leave the process (OTLP).
func (t *Telemetry) Exporting() bool { return t.exporting }

// MetricsHandler serves the Prometheus text exposition of every metric.
// A scrape costs one pass over the instruments; nothing is computed per
// request beyond that.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 2})
}

// Handler wraps the gateway's HTTP handler in a server span per request
// (otelhttp), continuing the caller's W3C trace context. The span is named
// by the method until the router renames it by route (handlers'
// Telemetry middleware). Probes and scrapes (/healthz, /readyz, /metrics)
// make no span. otelhttp's own metrics are off: the router records
// http.server.request.duration with the route.
//
// When spans are neither exported nor recorded, otelhttp's per-request
// work (about 30 allocations: attributes, wrappers) buys nothing, so a
// lighter handler only continues the caller's trace context, or starts a
// trace ID of its own, for the logs and the ERP calls.
func (t *Telemetry) Handler(h http.Handler) http.Handler {
	if !t.recording {
		return &traceIDHandler{next: h, tracer: t.tracer, prop: t.prop}
	}
	return otelhttp.NewHandler(h, "http.server",
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithPropagators(t.prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
		otelhttp.WithFilter(func(r *http.Request) bool { return !unTraced(r.URL.Path) }),
	)
}

// unTraced reports whether path is a probe or a scrape, which make no span.
func unTraced(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// traceIDHandler gives each request a non-recording server span: the
// caller's W3C trace context when it sent one, else a new trace ID.
type traceIDHandler struct {
	next   http.Handler
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func (h *traceIDHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if unTraced(r.URL.Path) {
		h.next.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	if r.Header.Get("traceparent") != "" {
		ctx = h.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	ctx, span := h.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	h.next.ServeHTTP(w, r.WithContext(ctx))
}

// InstrumentRedis adds a client span per Redis command (redisotel). Command
// arguments are left out of the spans: they hold cached answers.
//
// On a Redis Cluster each node's client gets the spans: redisotel hooks
// only the nodes a cluster client creates after it is called, so the nodes
// it already has (the ping at start made them) are hooked here, each once.
func (t *Telemetry) InstrumentRedis(rdb redis.UniversalClient) error {
	opts := []redisotel.TracingOption{
		redisotel.WithTracerProvider(t.tp),
		redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(false),
	}
	c, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return redisotel.InstrumentTracing(rdb, opts...)
	}
	var mu sync.Mutex
	hooked := map[*redis.Client]bool{}
	var errs []error
	hook := func(n *redis.Client) {
		mu.Lock()
		defer mu.Unlock()
		if !hooked[n] {
			hooked[n] = true
			if err := redisotel.InstrumentTracing(n, opts...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	c.OnNewNode(hook)
	// Without the cluster's state yet (Redis away at start) there is no
	// node to hook: OnNewNode hooks them as they come.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.ForEachShard(ctx, func(_ context.Context, n *redis.Client) error {
		hook(n)
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(errs...)
}

// Webhook counts one webhook delivery (gateway_webhooks_total): source
// such as "extend", action such as "order", outcome such as "applied",
// "duplicate" or "rejected". Each must come from a small fixed set.
func (t *Telemetry) Webhook(ctx context.Context, source, action, outcome string) {
	t.webhooks.Add(ctx, 1, metric.WithAttributes(
		attribute.String("source", source), attribute.String("action", action), attribute.String("outcome", outcome)))
}

// PusherBatch counts one batch a pusher ran (gateway_pusher_batches_total),
// outcome "ok" or "error".
func (t *Telemetry) PusherBatch(ctx context.Context, pusher, outcome string) {
	t.pushBatch.Add(ctx, 1, metric.WithAttributes(attribute.String("pusher", pusher), attribute.String("outcome", outcome)))
}

// CacheObserver returns the pull.Observer that counts cache outcomes.
func (t *Telemetry) CacheObserver() *CacheObserver { return t.cache }

// Shutdown flushes and stops the providers: spans still batched are sent
// (within ctx), and /metrics stops changing.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.callbackRe.Unregister(), t.tp.Shutdown(ctx), t.mp.Shutdown(ctx))
}
