package telemetry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/vendre-extend/gateway/erp"
)

// Outcomes of one ERP HTTP attempt, the outcome label of
// gateway_erp_requests_total.
const (
	OutcomeOK           = "ok"           // 1xx-3xx
	OutcomeNotFound     = "not_found"    // 404
	OutcomeUnauthorized = "unauthorized" // 401, 403
	OutcomeThrottled    = "throttled"    // 429
	OutcomeClientError  = "client_error" // other 4xx
	OutcomeServerError  = "server_error" // 5xx
	OutcomeTimeout      = "timeout"      // deadline or network timeout
	OutcomeCanceled     = "canceled"     // the caller gave up
	OutcomeError        = "error"        // no answer: refused, reset, DNS…
)

// latencyBuckets are the histogram bounds, in seconds, of request
// durations: fine below 10 ms for cache hits, up to EXTEND_TIMEOUT and
// beyond for the ERP.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type erpInstruments struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	byOp     optCache[string]
	byOpOut  optCache[cacheKey] // endpoint field holds the operation, result the outcome
}

func newERPInstruments(m metric.Meter) (*erpInstruments, error) {
	in := &erpInstruments{}
	var err error
	if in.requests, err = m.Int64Counter("gateway.erp.requests", metric.WithUnit("{request}"),
		metric.WithDescription("HTTP requests to Extend Commerce, each attempt counted, by operation and outcome.")); err != nil {
		return nil, err
	}
	if in.duration, err = m.Float64Histogram("gateway.erp.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from sending a request to Extend Commerce to its response headers, by operation."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	in.byOp.make = func(op string) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", op)))
	}
	in.byOpOut.make = func(k cacheKey) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", k.endpoint), attribute.String("outcome", k.result)))
	}
	return in, nil
}

// Transport wraps the ERP client's transport: a client span per HTTP
// attempt named "erp <operation>" (otelhttp, which also sends the W3C
// traceparent to Extend), and gateway_erp_requests_total{operation,outcome}
// and gateway_erp_request_duration_seconds{operation}. Operations are
// erp.OperationName's. base nil means http.DefaultTransport; keep the
// ERP client's own (erp.NewHTTPClient) to keep its timeouts.
func (t *Telemetry) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(&erpTransport{base: base, in: t.erp},
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithPropagators(t.prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return "erp " + erp.OperationName(r.Method, r.URL.Path)
		}),
	)
}

type erpTransport struct {
	base http.RoundTripper
	in   *erpInstruments
}

func (rt *erpTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := erp.OperationName(r.Method, r.URL.Path)
	start := time.Now()
	res, err := rt.base.RoundTrip(r)
	ctx := r.Context()
	rt.in.duration.Record(ctx, time.Since(start).Seconds(), rt.in.byOp.get(op).rec...)
	rt.in.requests.Add(ctx, 1, rt.in.byOpOut.get(cacheKey{op, outcome(ctx, res, err)}).add...)
	return res, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (rt *erpTransport) CloseIdleConnections() {
	if c, ok := rt.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// outcome classifies one attempt.
func outcome(ctx context.Context, res *http.Response, err error) string {
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
			return OutcomeCanceled
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			return OutcomeTimeout
		}
		return OutcomeError
	}
	switch s := res.StatusCode; {
	case s < 400:
		return OutcomeOK
	case s == http.StatusNotFound:
		return OutcomeNotFound
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return OutcomeUnauthorized
	case s == http.StatusTooManyRequests:
		return OutcomeThrottled
	case s < 500:
		return OutcomeClientError
	}
	return OutcomeServerError
}
