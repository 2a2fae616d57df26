package main

import (
	"fmt"
	"io"
	"time"
)

// result is what a run measured.
type result struct {
	customers, orders, invoices int
	changes, webhooks, sweeps   int
	byPage                      [6]int
	gateway, ttl, floor         tally
	gatewayCalls, ttlCalls      int64
	floorCalls                  int64
	sweepCalls, webhookCalls    int64
	gatewayBy, ttlBy, floorBy   [callsTotal]int64
}

// goal: the gateway should spend at most this many times the floor's
// calls (reported, not enforced: see cheap).
const goal = 1.1

// met reports whether the gateway's answers were right: none staler than
// the sweep period, none wrong without a change to explain it, no error.
// The exit status follows it.
func (r *result) met(Options) bool {
	return r.gateway.overBound == 0 && r.gateway.unexplained == 0 && r.gateway.errors == 0
}

// cheap reports whether the gateway spent at most goal times the floor's
// calls.
func (r *result) cheap() bool { return float64(r.gatewayCalls) <= goal*float64(r.floorCalls) }

func (r *result) print(w io.Writer, o Options, took time.Duration) {
	views := r.floor.views
	per := func(n int64) string { return fmt.Sprintf("%.0f", 1000*float64(n)/float64(max(views, 1))) }
	vs := func(n int64) string { return fmt.Sprintf("%.2fx", float64(n)/float64(max(r.floorCalls, 1))) }
	fmt.Fprintf(w, "Trace: %s simulated, %d customers (%d orders, %d invoices at start), %d sessions a day, Zipf s=1.1;\n",
		o.Span, r.customers, r.orders, r.invoices, o.SessionsPerDay)
	fmt.Fprintf(w, "%.1f %% of records changing per hour and %d new orders and invoices a day: %d changes, %d webhooks (%.0f %% lost);\n",
		100*o.ChangesPerHour, o.CreatedPerDay, r.changes, r.webhooks, 100*o.Lost)
	fmt.Fprintf(w, "CACHE_TTL_LIST %s, CACHE_TTL_DETAIL %s, CACHE_SWEEP_EVERY %s (%d sweeps). %d page views; ran in %s.\n\n",
		ttlList, ttlDetail, o.SweepEvery, r.sweeps, views, took.Round(time.Second))
	fmt.Fprintln(w, "| cache | ERP calls | per 1,000 page views | vs floor | answers not true | staler than the sweep period | worst | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	row := func(name string, calls int64, t tally, judged bool) {
		if !judged {
			fmt.Fprintf(w, "| %s | %d | %s | %s | (the truth) | | | %d |\n", name, calls, per(calls), vs(calls), t.errors)
			return
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %d | %d | %s | %d |\n", name, calls, per(calls), vs(calls),
			t.stale, t.overBound, t.maxStale.Round(time.Second), t.errors)
	}
	row("the gateway", r.gatewayCalls, r.gateway, true)
	row("a plain TTL cache of the same TTLs", r.ttlCalls, r.ttl, true)
	row("the floor: each list and record read once, again only when it changes", r.floorCalls, r.floor, false)
	fmt.Fprintf(w, "\nThe gateway's calls: %d for page views, %d by the sweeps, %d by webhooks (new records).\n",
		r.gatewayCalls-r.sweepCalls-r.webhookCalls, r.sweepCalls, r.webhookCalls)
	fmt.Fprintf(w, "\n| calls for | gateway | plain TTL cache | floor |\n|---|---|---|---|\n")
	for i := range callsTotal {
		fmt.Fprintf(w, "| %s | %d | %d | %d |\n", callNames[i], r.gatewayBy[i], r.ttlBy[i], r.floorBy[i])
	}
	if r.gateway.unexplained > 0 {
		fmt.Fprintf(w, "The gateway's answers not true with no change to explain them: %d.\n", r.gateway.unexplained)
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(w, "\nFreshness (no answer of the gateway staler than the sweep period, none wrong, no error): %s.\n", verdict(r.met(o)))
	fmt.Fprintf(w, "Cost (the gateway at most %.1fx the floor's ERP calls): %s.\n", goal, verdict(r.cheap()))
}
