package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vendre-extend/gateway/handlers"
)

// telemetryEcho is a router with the Telemetry middleware over an SDK
// meter provider read by reader.
func telemetryEcho(reader sdkmetric.Reader) *echo.Echo {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	e := echo.New()
	e.Use(handlers.TelemetryWithConfig(handlers.TelemetryConfig{MeterProvider: mp}))
	e.GET("/v1/orders/:id", func(c echo.Context) error { return c.String(http.StatusOK, "{}") })
	e.GET("/boom", func(c echo.Context) error { return echo.ErrServiceUnavailable })
	return e
}

func TestTelemetryMiddleware(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	e := telemetryEcho(reader)
	for _, target := range []string{"/v1/orders/1", "/v1/orders/2", "/boom", "/nope"} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, target, nil))
	}
	req := httptest.NewRequest("BREW", "/v1/orders/3", nil)
	e.ServeHTTP(httptest.NewRecorder(), req)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.server.request.duration" || m.Unit != "s" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				method, _ := dp.Attributes.Value("http.request.method")
				route, _ := dp.Attributes.Value("http.route")
				status, _ := dp.Attributes.Value("http.response.status_code")
				got[method.String()+" "+route.String()+" "+status.String()] += dp.Count
			}
		}
	}
	want := map[string]uint64{
		"GET /v1/orders/:id 200": 2,
		"GET /boom 503":          1,
		// echo v4 names an unmatched request's route after its path
		// pattern; the label set stays bounded either way.
		"_OTHER /v1/orders/:id 405": 1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("count of %q = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

// BenchmarkTelemetryMiddleware: the cost of the request metric on a
// trivial route, against the same router without it.
func BenchmarkTelemetryMiddleware(b *testing.B) {
	for _, name := range []string{"without", "with"} {
		b.Run(name, func(b *testing.B) {
			var e *echo.Echo
			if name == "with" {
				e = telemetryEcho(sdkmetric.NewManualReader())
			} else {
				e = echo.New()
				e.GET("/v1/orders/:id", func(c echo.Context) error { return c.String(http.StatusOK, "{}") })
			}
			req := httptest.NewRequest(http.MethodGet, "/v1/orders/1", nil)
			b.ReportAllocs()
			for b.Loop() {
				e.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
