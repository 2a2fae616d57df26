package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// The trace: sessions of My Account, changes in the ERP and their
// webhooks, and the gateway's sweeps, in time order.
//
//   - Sessions arrive at random over the span; each is a customer drawn
//     by Zipf (s = 1.1) over all customers, and opens, 10 to 40 s apart:
//     the order list, one order of it, the invoice list, one invoice of
//     it, the backorders, and the prices of one category page of 40
//     products (Zipf over the pages).
//   - Every record (order or invoice) changes with ChangesPerHour per
//     hour, at random times: a new reference, or for an invoice a
//     payment; CreatedPerDay orders and as many invoices are created, for
//     customers drawn by the same Zipf (who orders, visits). Each change
//     has its webhook 1 to 5 s later, except a share Lost of them.
//   - The gateway sweeps every CACHE_SWEEP_EVERY.

type eventKind int

// At one instant, events happen in this order.
const (
	sweep eventKind = iota
	change
	webhook
	pageView
)

type event struct {
	at   time.Time
	kind eventKind
	seq  int // order among events at the same time

	// page views
	customer string
	page     int     // 0..5: orders, order, invoices, invoice, backorders, prices
	pick     float64 // which row a detail page opens
	category int

	// changes and webhooks
	family  string // cache.FamilyOrders or cache.FamilyInvoices
	created bool
	ref     *string // the changed record's number, set when it changes, for its webhook
}

// trace builds the events of o over [start, start+Span).
func trace(o Options, start time.Time, customers []string, orders, invoices int) []event {
	r := rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed)) // #nosec G404 -- a reproducible trace, not security
	zipf := rand.NewZipf(r, 1.1, 1, uint64(len(customers)-1))
	rank := r.Perm(len(customers)) // who is popular: not the customer numbers' order
	who := func() string { return customers[rank[zipf.Uint64()]] }
	pages := rand.NewZipf(r, 1.1, 1, uint64(o.Categories-1))
	at := func() time.Time { return start.Add(time.Duration(r.Int64N(int64(o.Span)))) }
	var evs []event
	days := o.Span.Hours() / 24

	sessions := int(float64(o.SessionsPerDay) * days)
	for range sessions {
		t, c, cat := at(), who(), int(pages.Uint64())
		for p := range 6 {
			evs = append(evs, event{at: t, kind: pageView, customer: c, page: p, pick: r.Float64(), category: cat})
			t = t.Add(time.Duration(10+r.IntN(31)) * time.Second)
		}
	}
	// Changes of existing records: a Poisson process per record is one
	// over all of them at the summed rate.
	changes := int(o.ChangesPerHour * float64(orders+invoices) * o.Span.Hours())
	for range changes {
		fam := cache.FamilyOrders
		if r.IntN(orders+invoices) >= orders {
			fam = cache.FamilyInvoices
		}
		evs = append(evs, event{at: at(), kind: change, family: fam, pick: r.Float64()})
	}
	created := int(float64(o.CreatedPerDay) * days)
	for _, fam := range []string{cache.FamilyOrders, cache.FamilyInvoices} {
		for range created {
			evs = append(evs, event{at: at(), kind: change, family: fam, created: true, customer: who(), pick: r.Float64()})
		}
	}
	// Each change's webhook, unless lost.
	for i := range evs {
		ev := &evs[i]
		if ev.kind != change || r.Float64() < o.Lost {
			continue
		}
		ev.ref = new(string)
		evs = append(evs, event{at: ev.at.Add(time.Duration(1+r.IntN(5)) * time.Second), kind: webhook,
			family: ev.family, created: ev.created, ref: ev.ref})
	}
	for t := start; t.Before(start.Add(o.Span)); t = t.Add(o.SweepEvery) {
		evs = append(evs, event{at: t, kind: sweep})
	}
	for i := range evs {
		evs[i].seq = i
	}
	slices.SortFunc(evs, func(a, b event) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.kind, b.kind), cmp.Compare(a.seq, b.seq))
	})
	return evs
}

// world is the ERP as the trace changes it, and the log of its changes.
type world struct {
	sim      *extendsim.Server
	clk      *clock
	r        *rand.Rand
	orders   []string // every order number
	invoices []string
	version  int
	// versions[family+" "+number]: the references a record had, and
	// since when; the first is the one it had at the start (or was created
	// with).
	versions map[string][]version
}

// version is one reference a record had, from at.
type version struct {
	at      time.Time
	ref     string
	created bool
}

// apply makes the change of ev in the ERP, and sets ev.ref to the number
// of the record it changed.
func (w *world) apply(ev *event) {
	now := w.clk.Now()
	w.version++
	stamp := now.UTC().Format(time.RFC3339)
	var number, newRef string
	first := func(family, number, ref string) { // the version a record had at the start
		if _, ok := w.versions[family+" "+number]; !ok {
			w.versions[family+" "+number] = []version{{ref: ref}}
		}
	}
	switch {
	case ev.family == cache.FamilyOrders && ev.created:
		ns := w.sim.OrderNumbers(ev.customer)
		if len(ns) == 0 {
			return
		}
		o, _ := w.sim.Order(ns[int(ev.pick*float64(len(ns)))])
		o.OrderNumber, o.ExternalOrderNumber, o.ChangedAt = "", "", stamp
		o.OrderDate, o.Status, o.Shipments, o.InvoiceNumbers = now.UTC().Format(time.DateOnly), erp.StatusRegistered, nil, nil
		o.YourReference = fmt.Sprintf("new %d", w.version)
		number, newRef = w.sim.SetOrder(o), o.YourReference
		w.orders = append(w.orders, number)
	case ev.family == cache.FamilyOrders:
		o, _ := w.sim.Order(w.orders[int(ev.pick*float64(len(w.orders)))])
		first(ev.family, o.OrderNumber, o.YourReference)
		o.YourReference, o.ChangedAt = fmt.Sprintf("ref %d", w.version), later(stamp, o.ChangedAt)
		number, newRef = w.sim.SetOrder(o), o.YourReference
	case ev.created:
		ns := w.sim.InvoiceNumbers(ev.customer)
		if len(ns) == 0 {
			return
		}
		inv, _ := w.sim.Invoice(ns[int(ev.pick*float64(len(ns)))])
		inv.InvoiceNumber, inv.ChangedAt, inv.IsCredit, inv.CreditedInvoiceNumber = "", stamp, false, ""
		inv.InvoiceDate = now.UTC().Format(time.DateOnly)
		inv.DueDate = now.UTC().AddDate(0, 0, 30).Format(time.DateOnly)
		inv.PaidAmount, inv.RemainingAmount = 0, nil
		inv.YourReference = fmt.Sprintf("new %d", w.version)
		number, newRef = w.sim.SetInvoice(inv), inv.YourReference
		w.invoices = append(w.invoices, number)
	default:
		inv, _ := w.sim.Invoice(w.invoices[int(ev.pick*float64(len(w.invoices)))])
		first(ev.family, inv.InvoiceNumber, inv.YourReference)
		inv.YourReference, inv.ChangedAt = fmt.Sprintf("ref %d", w.version), later(stamp, inv.ChangedAt)
		if w.r.IntN(2) == 0 { // paid in full
			left := erp.Amount(0)
			inv.PaidAmount, inv.RemainingAmount = inv.TotalInclVat, &left
		}
		number, newRef = w.sim.SetInvoice(inv), inv.YourReference
	}
	if ev.ref != nil {
		*ev.ref = number
	}
	w.versions[ev.family+" "+number] = append(w.versions[ev.family+" "+number], version{at: now, ref: newRef, created: ev.created})
}

// later returns stamp, or a second after prev when stamp is not later (a
// record's ChangedAt always moves on).
func later(stamp, prev string) string {
	t, err1 := time.Parse(time.RFC3339, stamp)
	p, err2 := time.Parse(time.RFC3339, prev)
	if err1 == nil && err2 == nil && !t.After(p) {
		return p.Add(time.Second).Format(time.RFC3339)
	}
	return stamp
}

// row is a record as an answer shows it.
type row struct {
	ID        string `json:"id"`
	OrderNo   string `json:"order_no"`
	Reference string `json:"reference"`
}

// rows reads the records an answer of page shows.
func rows(page int, body []byte) []row {
	var v struct {
		Orders     []row `json:"orders"`
		Invoices   []row `json:"invoices"`
		Backorders []row `json:"backorders"`
	}
	switch page {
	case 1, 3:
		var r row
		if json.Unmarshal(body, &r) != nil {
			return nil
		}
		return []row{r}
	case 0, 2, 4:
		if json.Unmarshal(body, &v) != nil {
			return nil
		}
	}
	out := append(append(v.Orders, v.Invoices...), v.Backorders...)
	for i := range out {
		if out[i].ID == "" {
			out[i].ID = out[i].OrderNo
		}
	}
	return out
}

// staleSince tells since when an answer of page that is not the truth
// has not been true: the time of the first change of a record it shows
// that it does not show (a later reference), or of the creation of a
// record the truth shows and it does not. ok is false when no change
// explains the difference.
func (w *world) staleSince(page int, answer, truth []byte) (since time.Time, ok bool) {
	family := familyOf(page)
	note := func(t time.Time) {
		if !ok || t.Before(since) {
			since, ok = t, true
		}
	}
	shown := map[string]bool{}
	for _, r := range rows(page, answer) {
		shown[r.ID] = true
		vs := w.versions[family+" "+r.ID]
		if r.Reference == "" || len(vs) == 0 {
			continue // no reference to tell its version (backorders), or never changed
		}
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].ref == r.Reference {
				if i+1 < len(vs) {
					note(vs[i+1].at)
				}
				break
			}
		}
	}
	for _, r := range rows(page, truth) {
		if vs := w.versions[family+" "+r.ID]; !shown[r.ID] && len(vs) > 0 && vs[0].created {
			note(vs[0].at)
		}
	}
	return since, ok
}

// session state: what a session's earlier pages showed, for the next.
type session struct {
	orderIDs, invoiceIDs []string
}

// target is the URL of ev's page, from what the session saw so far (the
// truth's lists); "" when there is nothing to open.
func target(ev event, s *session, products [][]string) string {
	c := "customer_no=" + url.QueryEscape(ev.customer)
	pick := func(ids []string) string { return ids[int(ev.pick*float64(len(ids)))] }
	switch ev.page {
	case 0:
		return "/v1/orders?" + c
	case 1:
		if len(s.orderIDs) == 0 {
			return ""
		}
		return "/v1/orders/" + url.PathEscape(pick(s.orderIDs)) + "?" + c
	case 2:
		return "/v1/invoices?" + c
	case 3:
		if len(s.invoiceIDs) == 0 {
			return ""
		}
		return "/v1/invoices/" + url.PathEscape(pick(s.invoiceIDs)) + "?" + c
	case 4:
		return "/v1/backorders?" + c
	}
	return "/v1/prices?" + c + "&products=" + strings.Join(products[ev.category], ",")
}

// familyOf is the family of the records a page shows; "" for prices.
func familyOf(page int) string {
	switch page {
	case 0, 1, 4:
		return cache.FamilyOrders
	case 2, 3:
		return cache.FamilyInvoices
	}
	return ""
}

// normal is an answer as compared with the truth: invoices lose their
// pdf_link, which each cache signs with its own expiry.
func normal(page int, body []byte) string {
	if page != 3 {
		return string(body)
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return string(body)
	}
	delete(m, "pdf_link")
	b, _ := json.Marshal(m)
	return string(b)
}

// tally is what one cache served.
type tally struct {
	views, errors        int
	stale, overBound     int // answers not true, and of those, staler than the sweep period
	unexplained          int // answers not true with no change to explain them
	maxStale, totalStale time.Duration
}

// judge compares the answer of s to the truth and counts it in t; an
// answer staler than bound, or wrong without a change to explain it, is
// told to log.
func (w *world) judge(t *tally, ev event, target string, rec, truth []byte, code int, bound time.Duration, log io.Writer) {
	t.views++
	if code != 200 {
		t.errors++
		return
	}
	if normal(ev.page, rec) == normal(ev.page, truth) {
		return
	}
	t.stale++
	since, ok := w.staleSince(ev.page, rec, truth)
	if !ok {
		t.unexplained++
		if log != nil {
			fmt.Fprintf(log, "%s: %s is not true, and no change explains it:\n  got  %.400s\n  want %.400s\n", w.clk.Now().Format(time.RFC3339), target, rec, truth)
		}
		return
	}
	d := w.clk.Now().Sub(since)
	t.totalStale += d
	t.maxStale = max(t.maxStale, d)
	if d > bound {
		t.overBound++
		if log != nil {
			fmt.Fprintf(log, "%s: %s is %s stale:\n  got  %.400s\n  want %.400s\n", w.clk.Now().Format(time.RFC3339), target, d, rec, truth)
		}
	}
}

// run replays the trace against the three caches.
func run(o Options, log io.Writer) (*result, error) {
	if o.SweepEvery == 0 {
		o.SweepEvery = sweepEvery
	}
	start := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC) // a Monday
	clk := &clock{t: start}
	sim := extendsim.New(extendsim.Options{ClientID: "bench", ClientSecret: "bench-secret", Now: clk.Now,
		Customers: o.Customers - 3, Products: o.Categories * 40, Seed: o.Seed})
	customers := sim.CustomerNumbers()
	w := &world{sim: sim, clk: clk, r: rand.New(rand.NewPCG(uint64(o.Seed), 7)), // #nosec G404 -- a reproducible trace
		versions: map[string][]version{}}
	for _, c := range customers {
		w.orders = append(w.orders, sim.OrderNumbers(c)...)
		w.invoices = append(w.invoices, sim.InvoiceNumbers(c)...)
	}
	products := sim.ProductNumbers()
	var categories [][]string
	for i := range o.Categories {
		categories = append(categories, products[i*40:min((i+1)*40, len(products))])
	}

	gwCache := cache.New(cache.Config{Memory: cache.NewMemory(2 << 30), StaleFor: staleFor, Budget: 10 * time.Second,
		FeedLag: o.SweepEvery, KeepFor: keepFor, Now: clk.Now})
	var gwCalls, ttlCalls, floorCalls byCall
	gw, err := newSystem("gateway", counting{sim, &gwCalls}, gwCache, clk, o.SweepEvery)
	if err != nil {
		return nil, err
	}
	ttl, err := newSystem("plain TTL cache", &ttlCache{sim: sim, now: clk.Now, n: &ttlCalls, m: map[string]stored{}}, nothing(clk), clk, 0)
	if err != nil {
		return nil, err
	}
	floor, err := newSystem("floor", &oracle{sim: sim, n: &floorCalls, seen: map[string][]byte{}}, nothing(clk), clk, 0)
	if err != nil {
		return nil, err
	}

	evs := trace(o, start, customers, len(w.orders), len(w.invoices))
	res := &result{customers: len(customers), orders: len(w.orders), invoices: len(w.invoices)}
	sessions := map[string]*session{} // by customer: the latest session's lists
	var sweepCalls, webhookCalls int64
	next := start
	for i := range evs {
		ev := &evs[i]
		clk.Set(ev.at)
		if log != nil && !ev.at.Before(next) {
			fmt.Fprintf(log, "day %.1f: %d events of %d\n", ev.at.Sub(start).Hours()/24, i, len(evs))
			next = next.Add(24 * time.Hour)
		}
		switch ev.kind {
		case change:
			w.apply(ev)
			res.changes++
		case webhook:
			if *ev.ref == "" {
				continue
			}
			before := gwCalls.total()
			var err error
			if ev.family == cache.FamilyOrders {
				err = gw.svc.OrderChanged(background, *ev.ref, ev.created)
			} else {
				err = gw.svc.InvoiceChanged(background, *ev.ref, ev.created)
			}
			if err != nil {
				return nil, fmt.Errorf("webhook: %w", err)
			}
			webhookCalls += gwCalls.total() - before
			res.webhooks++
		case sweep:
			before := gwCalls.total()
			if err := gw.svc.Sweep(background); err != nil {
				return nil, fmt.Errorf("sweep: %w", err)
			}
			sweepCalls += gwCalls.total() - before
			res.sweeps++
		case pageView:
			s := sessions[ev.customer]
			if s == nil || ev.page == 0 {
				s = &session{}
				sessions[ev.customer] = s
			}
			tgt := target(*ev, s, categories)
			if tgt == "" {
				continue
			}
			truth := floor.get(tgt)
			switch ev.page {
			case 0:
				for _, r := range decodeRows[api.OrderList](truth.Body.Bytes()).Orders {
					s.orderIDs = append(s.orderIDs, r.ID)
				}
			case 2:
				for _, r := range decodeRows[api.InvoiceList](truth.Body.Bytes()).Invoices {
					s.invoiceIDs = append(s.invoiceIDs, r.ID)
				}
			}
			res.floor.views++
			if truth.Code != 200 {
				res.floor.errors++
			}
			for _, sys := range []struct {
				s *system
				t *tally
			}{{gw, &res.gateway}, {ttl, &res.ttl}} {
				rec := sys.s.get(tgt)
				var judged io.Writer
				if sys.s == gw {
					judged = log
				}
				w.judge(sys.t, *ev, tgt, rec.Body.Bytes(), truth.Body.Bytes(), rec.Code, o.SweepEvery, judged)
			}
			res.byPage[ev.page]++
		}
	}
	time.Sleep(200 * time.Millisecond) // renewals in flight land
	for i := range callsTotal {
		res.gatewayBy[i], res.ttlBy[i], res.floorBy[i] = gwCalls.n[i].Load(), ttlCalls.n[i].Load(), floorCalls.n[i].Load()
	}
	res.gatewayCalls, res.ttlCalls, res.floorCalls = gwCalls.total(), ttlCalls.total(), floorCalls.total()
	res.sweepCalls, res.webhookCalls = sweepCalls, webhookCalls
	return res, nil
}

func decodeRows[T any](b []byte) T {
	var v T
	_ = json.Unmarshal(b, &v)
	return v
}
