// Command freshness replays a week of My Account traffic against three
// caches in front of one simulated Extend Commerce, and reports what each
// cost in ERP calls and how stale its answers were:
//
//   - the gateway, as it runs with its default settings: its cache,
//     Extend's webhooks (a tenth of them lost) and the change sweep;
//   - a plain TTL cache of the same TTLs in front of the ERP, as nginx or
//     KrakenD would be: every ERP call cached by URL, lists for
//     CACHE_TTL_LIST, records for CACHE_TTL_DETAIL;
//   - the floor: every ERP answer read once, and again only when it
//     changed.
//
// It runs on a simulated clock (the gateway's, the ERP's and the trace's),
// so a week takes minutes and nothing needs scaling: TTLs and the sweep
// period are the real ones. Every answer of the gateway and of the TTL
// cache is compared with the ERP's truth at that moment (the floor's
// answer); one that differs is as stale as the oldest change of its
// customer's records it does not show.
//
//	go run ./bench/freshness          # a week, 5,000 customers
//	go run ./bench/freshness -short   # a day, 500 customers (CI)
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	o := defaults()
	short := flag.Bool("short", false, "a day over 500 customers, for CI")
	flag.DurationVar(&o.Span, "span", o.Span, "simulated time the trace covers")
	flag.IntVar(&o.Customers, "customers", o.Customers, "customers (Zipf over them)")
	flag.IntVar(&o.SessionsPerDay, "sessions", o.SessionsPerDay, "My Account sessions per day")
	flag.Float64Var(&o.ChangesPerHour, "changes", o.ChangesPerHour, "share of records changing per hour")
	flag.Float64Var(&o.Lost, "lost", o.Lost, "share of webhooks lost")
	flag.DurationVar(&o.SweepEvery, "sweep", o.SweepEvery, "CACHE_SWEEP_EVERY")
	flag.Int64Var(&o.Seed, "seed", o.Seed, "seed of the trace")
	flag.Parse()
	if *short {
		o = o.short()
	}
	start := time.Now()
	o.Log = os.Stderr
	r, err := run(o, o.Log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "freshness:", err)
		os.Exit(1)
	}
	r.print(os.Stdout, o, time.Since(start))
	if !r.met(o) {
		os.Exit(1)
	}
}

// Options shape the trace.
type Options struct {
	Span           time.Duration // simulated time
	Customers      int
	SessionsPerDay int
	ChangesPerHour float64 // share of all records changing per hour
	CreatedPerDay  int     // new orders per day, and as many new invoices
	Lost           float64 // share of webhooks lost
	Categories     int     // pages of 40 products a session's prices come from
	SweepEvery     time.Duration
	Seed           int64
	Log            io.Writer // progress; nil: none
}

func defaults() Options {
	return Options{Span: 7 * 24 * time.Hour, Customers: 5000, SessionsPerDay: 1000,
		ChangesPerHour: 0.01, CreatedPerDay: 60, Lost: 0.1, Categories: 50, SweepEvery: sweepEvery, Seed: 1}
}

// short is the CI form: a day over 500 customers.
func (o Options) short() Options {
	o.Span, o.Customers, o.SessionsPerDay, o.CreatedPerDay = 24*time.Hour, 500, 300, 10
	return o
}
