package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vendre-extend/gateway/admin"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pull"
)

// probe calls the configured Extend Commerce for one customer and checks,
// through the pull service's own pipeline (pull.Service.Probe: fetch, map,
// schema), every answer its orders and invoices make; it prints a report
// naming each record and field that does not fit (pull.Report). It fails
// unless all fits.
func probe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	customer, days, cfg, err := probeArgs(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if cfg.Demo() {
		stop, err := startDemoERP(cfg, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	// The probe spends the ERP's budget as background work: through the
	// guard, shared through Redis when configured (unanswered: the budget
	// is kept in process), after customers.
	rdb, closeRedis, err := openRedis(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeRedis()
	_, hc := newGuard(cfg, rdb, log, erp.NewHTTPClient())
	client, err := newERP(cfg, hc, nil)
	if err != nil {
		return err
	}
	svc, _, err := newPull(cfg, client, cache.New(cache.Config{}), doclink.DeriveKey("probe"), log)
	if err != nil {
		return err
	}
	to := time.Now().In(cfg.Location)
	from := to.AddDate(0, 0, -days)
	fmt.Fprintf(stdout, "probe of customer %s at %s, %s to %s\n", customer, cfg.ExtendBaseURL, from.Format(time.DateOnly), to.Format(time.DateOnly))
	r := &pull.Report{W: stdout}
	svc.Probe(ctx, customer, from.Format(time.DateOnly), to.Format(time.DateOnly), r.Found)
	fmt.Fprintf(stdout, "%d checked, %d failed\n", r.Checked, r.Failed)
	if r.Failed > 0 {
		return fmt.Errorf("probe: %d of %d answers do not fit", r.Failed, r.Checked)
	}
	return nil
}

// probeArgs reads probe's own flags (-customer, -days) and the settings.
func probeArgs(args []string, getenv func(string) string, stderr io.Writer) (customer string, days int, cfg *Config, err error) {
	extra := flag.NewFlagSet("probe", flag.ContinueOnError)
	extra.SetOutput(stderr)
	extra.StringVar(&customer, "customer", "", "customer number to probe (required)")
	extra.IntVar(&days, "days", 365, "how many days of history to read")
	cfgArgs, probeArgs := splitArgs(args, "customer", "days")
	if err := extra.Parse(probeArgs); err != nil {
		return "", 0, nil, err
	}
	if customer == "" {
		return "", 0, nil, fmt.Errorf("probe: -customer is required")
	}
	cfg, _, err = parseConfig("gateway probe", cfgArgs, getenv, stderr)
	return customer, days, cfg, err
}

// flush asks the running gateway to flush its cache.
func flush(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flush", flag.ContinueOnError)
	fs.SetOutput(stderr)
	customer := fs.String("customer", "", "flush one customer (default: everything)")
	base, token := adminFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return fmt.Errorf("flush: ADMIN_TOKEN is required")
	}
	return adminCall("flush", *base, *token, stdout, func(c *admin.Client) ([]byte, error) {
		return c.Flush(ctx, *customer)
	})
}

// erpCmd is `gateway erp resume`: it lifts, through the running
// gateway's admin API, the pauses Extend asked for, on every replica.
func erpCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("erp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base, token := adminFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if rest := fs.Args(); len(rest) != 1 || rest[0] != "resume" {
		return errors.New("erp: usage: gateway erp [-url U] resume")
	}
	if *token == "" {
		return errors.New("erp: ADMIN_TOKEN is required")
	}
	return adminCall("erp resume", *base, *token, stdout, func(c *admin.Client) ([]byte, error) {
		return c.ResumeERP(ctx)
	})
}

// adminFlags declares the flags of a command that calls the running
// gateway's admin API: -url and -admin-token ($ADMIN_TOKEN).
func adminFlags(fs *flag.FlagSet, getenv func(string) string) (base, token *string) {
	base = fs.String("url", "http://localhost:8080", "the running gateway")
	token = fs.String("admin-token", getenv("ADMIN_TOKEN"), "admin token ($ADMIN_TOKEN)")
	return base, token
}

// adminCall makes one call of the admin API of the gateway at base with
// token, prints the answer's body and fails unless it is a 2xx. what names
// the command in errors.
func adminCall(what, base, token string, stdout io.Writer, call func(*admin.Client) ([]byte, error)) error {
	body, err := call(admin.New(base, token, nil))
	if body != nil {
		fmt.Fprintln(stdout, strings.TrimSpace(string(body)))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// splitArgs separates the command's own flags (named in own) from the
// configuration flags, so that both can be given in any order.
func splitArgs(args []string, own ...string) (cfgArgs, ownArgs []string) {
	isOwn := func(a string) bool {
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		for _, o := range own {
			if name == o {
				return true
			}
		}
		return false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && isOwn(a) {
			ownArgs = append(ownArgs, a)
			if !strings.Contains(a, "=") && i+1 < len(args) {
				ownArgs = append(ownArgs, args[i+1])
				i++
			}
			continue
		}
		cfgArgs = append(cfgArgs, a)
	}
	return cfgArgs, ownArgs
}
