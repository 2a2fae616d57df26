package handlers

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// TelemetryConfig configures the Telemetry middleware.
type TelemetryConfig struct {
	// Skipper skips requests (they are neither measured nor renamed).
	Skipper middleware.Skipper
	// MeterProvider records http.server.request.duration; nil records
	// nothing.
	MeterProvider metric.MeterProvider
}

// requestBuckets are the bounds, in seconds, of the request duration
// histogram: fine below 10 ms, where cache hits are.
var requestBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// TelemetryWithConfig measures each request into the histogram
// http_server_request_duration_seconds{http_request_method,http_route,
// http_response_status_code} (OTel's http.server.request.duration), and
// names the request's server span (made by otelhttp around the router) by
// its route, "GET /v1/orders/:id", with the http.route attribute. It must be
// the outermost middleware so that it sees the final status. A request
// costs a map read and one histogram record, without allocating.
func TelemetryWithConfig(cfg TelemetryConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = middleware.DefaultSkipper
	}
	mp := cfg.MeterProvider
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	hist, err := mp.Meter("github.com/vendre-extend/gateway/handlers").Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests, by method, route and status."),
		metric.WithExplicitBucketBoundaries(requestBuckets...))
	if err != nil {
		hist, _ = metricnoop.NewMeterProvider().Meter("").Float64Histogram("")
	}
	attrs := &attrCache{}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			start := time.Now()
			req := c.Request()
			route := c.Path()
			if span := trace.SpanFromContext(req.Context()); span.IsRecording() {
				span.SetName(req.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
				if c.Param("token") != "" {
					// The path holds a document token, a credential.
					span.SetAttributes(attribute.String("url.path", route))
				}
			}
			if err := next(c); err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			hist.Record(context.Background(), time.Since(start).Seconds(), attrs.get(routeKey{req.Method, route, status})...)
			return nil
		}
	}
}

type routeKey struct {
	method, route string
	status        int
}

// attrCache keeps one attribute set per method, route and status (a small
// set: routes are the router's patterns, unknown methods are _OTHER).
// Reads take no lock; a new key copies the map.
type attrCache struct {
	m  atomic.Pointer[map[routeKey][]metric.RecordOption]
	mu sync.Mutex
}

// get returns the options as a slice, so that passing them on does not
// allocate a variadic slice per call.
func (a *attrCache) get(k routeKey) []metric.RecordOption {
	k.method = knownMethod(k.method)
	if m := a.m.Load(); m != nil {
		if o, ok := (*m)[k]; ok {
			return o
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := make(map[routeKey][]metric.RecordOption)
	if old := a.m.Load(); old != nil {
		if o, ok := (*old)[k]; ok {
			return o
		}
		for kk, o := range *old {
			n[kk] = o
		}
	}
	o := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("http.request.method", k.method),
		attribute.String("http.route", k.route),
		attribute.Int("http.response.status_code", k.status)))}
	n[k] = o
	a.m.Store(&n)
	return o
}

// knownMethod returns m if it is a standard method, else "_OTHER" (OTel
// semantic conventions), so that callers cannot grow the label set.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// traceID returns the trace ID of ctx's span, or "" when there is none.
func traceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
