package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/admin"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/mapping"
	"github.com/vendre-extend/gateway/schemas"
)

// probe calls the configured Extend Commerce for one customer, decodes,
// maps and schema-checks every answer, and prints a report naming each
// record and field that does not fit. It fails unless all fits.
func probe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var customer string
	var days int
	extra := flag.NewFlagSet("probe", flag.ContinueOnError)
	extra.SetOutput(stderr)
	extra.StringVar(&customer, "customer", "", "customer number to probe (required)")
	extra.IntVar(&days, "days", 365, "how many days of history to read")
	cfgArgs, probeArgs := splitArgs(args, "customer", "days")
	if err := extra.Parse(probeArgs); err != nil {
		return err
	}
	if customer == "" {
		return fmt.Errorf("probe: -customer is required")
	}
	cfg, _, err := parseConfig("gateway probe", cfgArgs, getenv, stderr)
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
	// guard, shared through Redis when configured, after customers.
	var rdb redis.UniversalClient
	if cfg.RedisURL != "" {
		u, err := cache.ParseRedisURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("config: REDIS_URL: %v", err)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, _ := u.Open(pctx, redisTimeouts()) // unanswered: the budget is kept in process
		cancel()
		defer c.Close()
		rdb = c
	}
	_, hc := newGuard(cfg, rdb, log, erp.NewHTTPClient())
	ctx = erp.WithClass(ctx, erp.Background)
	client, err := erp.New(erp.Config{BaseURL: cfg.ExtendBaseURL, ClientID: cfg.ExtendClientID, ClientSecret: cfg.ExtendClientSecret, HTTPClient: hc})
	if err != nil {
		return err
	}
	set, err := schemas.Load()
	if err != nil {
		return err
	}
	mapper, err := mapping.New(mapping.Options{Locale: cfg.Locale, Currency: cfg.Currency, Location: cfg.Location})
	if err != nil {
		return err
	}
	links := doclink.New(doclink.DeriveKey("probe"), cfg.PublicBaseURL, nil)

	r := &report{w: stdout}
	to := time.Now().In(cfg.Location)
	q := erp.ListQuery{CustomerNumber: customer, From: to.AddDate(0, 0, -days).Format("2006-01-02"), To: to.Format("2006-01-02"), PageSize: 100}
	fmt.Fprintf(stdout, "probe of customer %s at %s, %s to %s\n", customer, cfg.ExtendBaseURL, q.From, q.To)

	for page := 1; ; page++ {
		q.Page = page
		hs, err := client.OrderHeaders(ctx, q)
		if err != nil {
			r.fail("order list page %d: %v", page, err)
			break
		}
		for _, h := range hs.Items {
			o, err := client.Order(ctx, h.OrderNumber)
			if err != nil {
				r.fail("order %s: %v", h.OrderNumber, err)
				r.adviseDecode(err)
				continue
			}
			r.check("order "+h.OrderNumber+" (list row)", set, schemas.OrderList, listOf("orders", mapper.OrderRow(o)))
			r.check("order "+h.OrderNumber, set, schemas.Order, mapper.Order(o))
			if o.CustomerNumber != customer {
				r.fail("order %s: CustomerNumber %q is not %q", h.OrderNumber, o.CustomerNumber, customer)
			}
		}
		if page*100 >= hs.TotalCount || len(hs.Items) == 0 {
			break
		}
	}
	q.Page = 1
	for page := 1; ; page++ {
		q.Page = page
		hs, err := client.InvoiceHeaders(ctx, q)
		if err != nil {
			r.fail("invoice list page %d: %v", page, err)
			break
		}
		for _, h := range hs.Items {
			inv, err := client.Invoice(ctx, h.InvoiceNumber)
			if err != nil {
				r.fail("invoice %s: %v", h.InvoiceNumber, err)
				r.adviseDecode(err)
				continue
			}
			r.check("invoice "+h.InvoiceNumber+" (list row)", set, schemas.InvoiceList, listOf("invoices", mapper.InvoiceRow(inv)))
			r.check("invoice "+h.InvoiceNumber, set, schemas.Invoice, mapper.Invoice(inv, links.Link(customer, inv.InvoiceNumber, time.Now().Add(time.Hour))))
		}
		if page*100 >= hs.TotalCount || len(hs.Items) == 0 {
			break
		}
	}
	fmt.Fprintf(stdout, "%d checked, %d failed\n", r.checked, r.failed)
	if r.failed > 0 {
		return fmt.Errorf("probe: %d of %d answers do not fit", r.failed, r.checked)
	}
	return nil
}

// listOf wraps one row in a one-row list answer, for its schema.
func listOf(name string, row any) map[string]any {
	return map[string]any{name: []any{row}, "page": 1, "per_page": 1, "total": 1}
}

type report struct {
	w               io.Writer
	checked, failed int
}

func (r *report) fail(format string, a ...any) {
	r.checked++
	r.failed++
	fmt.Fprintf(r.w, "FAIL %s\n", fmt.Sprintf(format, a...))
}

func (r *report) check(what string, set *schemas.Set, schema string, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		err = set.Validate(schema, b)
	}
	if err != nil {
		r.fail("%s: %v", what, err)
		r.advise(err) // field by field, with what to check in Extend
		return
	}
	r.checked++
	fmt.Fprintf(r.w, "ok   %s\n", what)
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
