// Command faults is the gateway's fault suite: it builds the gateway,
// starts real processes on loopback (a throwaway redis-server, an ERP
// double serving erp/extendsim with knobs, two gateway replicas sharing
// Redis), drives them with a steady open-loop load, injects one fault per
// scenario, and prints a table per scenario: requests, answers by status,
// stale answers, p50/p99 latency, ERP calls made (and the most in any
// window per rate-limit group), replicas' RSS, and whether the targets
// held.
//
//	go run ./faults                 # every scenario, FAULTS_SECONDS each (default 60)
//	FAULTS_SECONDS=5 go run ./faults -customers 200
//	go run ./faults -run erp-down,burst
//
// Targets: no 5xx other than 502/503/504; none at all for URLs answered
// 200 before the fault; no crash; bounded memory; the ERP never gets more
// than its limit (a 429 it had to give for being over it counts against).
// The exit status is 1 when a target failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "erp":
		err = runDouble(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "budget":
		err = runBudget(ctx, os.Args[2:])
	default:
		err = runSuite(ctx, os.Args[1:])
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
}

// options of a suite run.
type options struct {
	seconds   time.Duration // per scenario (FAULTS_SECONDS)
	rate      int           // requests per second
	customers int
	erpLimit  string // Extend's limit per group, enforced by the double; the gateway's EXTEND_RATE_LIMIT
	only      map[string]bool
	out       string // also write the table here
	// For the budget scenario (budget.go): the gateway runs with its
	// default budget (no EXTEND_RATE_LIMIT), the double holds products
	// synthetic articles, and env is added to the replicas'.
	defaultBudget bool
	products      int
	env           []string
}

func runSuite(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	secs := fs.Int("seconds", envInt("FAULTS_SECONDS", 60), "length of each scenario in seconds ($FAULTS_SECONDS)")
	rate := fs.Int("rate", 200, "steady requests per second")
	customers := fs.Int("customers", 1000, "customers the load spreads over")
	limit := fs.String("erp-limit", "600/1s", "Extend's limit per rate-limit group (the double enforces it; the gateway is configured with it)")
	run := fs.String("run", "", "comma-separated scenarios to run (default all)")
	out := fs.String("out", "", "also write the markdown table to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := options{seconds: time.Duration(*secs) * time.Second, rate: *rate, customers: *customers, erpLimit: *limit, out: *out}
	if *run != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(*run, ",") {
			o.only[strings.TrimSpace(s)] = true
		}
	}
	if o.seconds < 4*time.Second {
		return fmt.Errorf("FAULTS_SECONDS must be at least 4")
	}
	return suite(ctx, o)
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}
