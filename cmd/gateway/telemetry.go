package main

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/telemetry"
)

// recentErrors is how many error-level log records the admin status page
// keeps.
const recentErrors = 50

// startTelemetry builds the process's traces and metrics (telemetry.New:
// spans leave the process only when OTEL_EXPORTER_OTLP_ENDPOINT is set) and
// tees log's error records into the status page's error log. gauges are
// read at each scrape, so they may reach things built later. stop flushes
// the spans still batched.
func startTelemetry(ctx context.Context, log *slog.Logger, gauges telemetry.Options) (tel *telemetry.Telemetry, errs *handlers.ErrorLog, tlog *slog.Logger, stop func(), err error) {
	errs = handlers.NewErrorLog(recentErrors)
	tlog = slog.New(errs.Handler(log.Handler()))
	gauges.Version = buildVersion()
	tel, err = telemetry.New(ctx, gauges)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if tel.Exporting() {
		tlog.Info("exporting traces over OTLP")
	}
	stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			tlog.Warn("telemetry shutdown", "err", err)
		}
	}
	return tel, errs, tlog, stop, nil
}

// erpHTTPClient is the ERP client's own HTTP client (its timeouts, pool and
// redirect policy) with telemetry's transport around it: a client span and
// metrics per call.
func erpHTTPClient(tel *telemetry.Telemetry) *http.Client {
	hc := erp.NewHTTPClient()
	hc.Transport = tel.Transport(hc.Transport)
	return hc
}

// buildVersion is the module version the binary was built from, for
// service.version ("(devel)" from a work tree).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}

// webhookObserver counts webhook deliveries (gateway_webhooks_total).
type webhookObserver struct{ tel *telemetry.Telemetry }

func (o webhookObserver) Webhook(source, action, outcome string) {
	o.tel.Webhook(context.Background(), source, action, outcome)
}

// pusherFigures reads the pushers' states for /metrics and the status
// page; reg is looked up at each call, so it may be set after start. A
// Redis that does not answer within a second yields no figures.
func pusherFigures(reg func() *pushers.Registry) func(context.Context) []pushers.Status {
	return func(ctx context.Context) []pushers.Status {
		r := reg()
		if r == nil || r.Len() == 0 {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := r.Statuses(ctx)
		if err != nil {
			return nil
		}
		return st
	}
}

// pusherStats adapts pusherFigures to telemetry.Options.Pushers.
func pusherStats(figures func(context.Context) []pushers.Status) func() []telemetry.PusherStat {
	return func() []telemetry.PusherStat {
		var out []telemetry.PusherStat
		for _, s := range figures(context.Background()) {
			out = append(out, telemetry.PusherStat{Name: s.Name, Backlog: s.Backlog, DeadLetters: s.DeadLetters})
		}
		return out
	}
}

// pusherLines adapts pusherFigures to the status page.
func pusherLines(figures func(context.Context) []pushers.Status) func(context.Context) []handlers.PusherStatus {
	return func(ctx context.Context) []handlers.PusherStatus {
		var out []handlers.PusherStatus
		for _, s := range figures(ctx) {
			out = append(out, handlers.PusherStatus{Name: s.Name, State: s.State, Backlog: s.Backlog,
				DeadLetters: s.DeadLetters, LastSuccess: s.LastSuccess, LastError: s.LastError})
		}
		return out
	}
}
