package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vendre-extend/gateway/api"
)

// The budget scenario: `go run ./faults budget` (make budget).
//
// It asks whether the ERP's call budget goes to the customers who wait
// while background work is heavy. The ERP double enforces Extend's
// standard limit (300 calls a minute per rate-limit group) and the two
// gateway replicas run with every default setting. In each of two phases
// new customers open My Account, one every -every, on alternate replicas,
// as Vendre would: orders, invoices, backorders and addresses at once,
// then up to three orders, one invoice, prices and stock. Every customer
// is new to the cache, so their answers are cold (ERP work).
//
//   - idle: nothing else uses the ERP;
//   - loaded: the same kind of sessions while the stock pusher sweeps
//     -products articles into a webhook sink and the order pusher imports
//     -orders Vendre orders, posted at once as after a sale.
//
// It prints per phase the sessions' answers by status, the cold answers'
// p50 and p99, the ERP calls per rate-limit group (counted by the double)
// and by class (the gateway's gateway_erp_budget_calls_total), calls over
// Extend's limit, and how long the pushers took to finish. Targets: the
// loaded p99 at most 1.5x the idle one, no 503 and no 429 in either
// phase, nothing over Extend's limit, and the pushers done within
// -max-wait.
func runBudget(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("budget", flag.ContinueOnError)
	sessions := fs.Int("sessions", 12, "My Account sessions per phase, each a customer new to the cache")
	every := fs.Duration("every", 10*time.Second, "time between the starts of two sessions")
	products := fs.Int("products", 10000, "articles the stock sweep pushes")
	orders := fs.Int("orders", 200, "Vendre orders the order pusher imports")
	limit := fs.String("erp-limit", "300/1m", "Extend's limit per rate-limit group, enforced by the double (the gateway keeps its default)")
	maxWait := fs.Duration("max-wait", 15*time.Minute, "the longest the pushers may take")
	latency := fs.Duration("erp-latency", 50*time.Millisecond, "how long the ERP double takes to answer each call")
	out := fs.String("out", "", "also write the table here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w, err := open(ctx, options{customers: 2 * *sessions, erpLimit: *limit, defaultBudget: true, products: *products})
	if err != nil {
		return err
	}
	defer w.close()
	w.admin("/fault?latency=" + latency.String())
	sink, err := startStockSink()
	if err != nil {
		return err
	}
	defer sink.close()
	var customers []string
	if err := getJSON("http://"+w.erpAdmin+"/customers", &customers); err != nil {
		return err
	}
	// The generated customers, the fixed demo ones last: comparable sessions.
	slices.Reverse(customers)
	if len(customers) < 2**sessions {
		return fmt.Errorf("the double has %d customers, want %d", len(customers), 2**sessions)
	}
	const adminToken = "budget-admin-token"
	w.o.env = []string{"ADMIN_TOKEN=" + adminToken}

	// Idle: nothing but the sessions.
	for i := range 2 {
		if err := w.startReplica(i); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "budget: idle phase, %d sessions %s apart\n", *sessions, *every)
	w.admin("/stats/reset")
	idle := w.sessions(ctx, customers[:*sessions], *every)
	idle.erp = w.erpStats()
	idle.classes = w.classCalls()
	for _, p := range w.replicas {
		p.kill()
	}

	// Loaded: the pushers start with the replicas.
	w.o.env = append(w.o.env,
		"STOCK_SINKS=webhook", "STOCK_WEBHOOK_URL="+sink.url, "STOCK_WEBHOOK_SECRET="+sinkSecret,
		"ORDER_SOURCES=vendre-webhook", "VENDRE_WEBHOOK_TOKEN="+orderToken)
	w.admin("/stats/reset")
	start := time.Now()
	for i := range 2 {
		if err := w.startReplica(i); err != nil {
			return err
		}
	}
	for i := range *orders {
		if err := w.postOrder(ctx, i); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "budget: loaded phase: %d orders posted, a %d-article sweep running\n", *orders, *products)
	finished := make(chan time.Duration, 1)
	go func() { finished <- w.pushersDone(ctx, adminToken, sink, *products, start, *maxWait) }()
	loaded := w.sessions(ctx, customers[*sessions:2**sessions], *every)
	took := <-finished
	loaded.erp = w.erpStats()
	loaded.classes = w.classCalls()
	loaded.pushers = took

	table := renderBudget(*limit, *latency, *sessions, *every, *products, *orders, idle, loaded)
	fmt.Print(table)
	if *out != "" {
		_ = os.MkdirAll(filepath.Dir(*out), 0o750)
		if err := os.WriteFile(*out, []byte(table), 0o600); err != nil {
			return err
		}
	}
	if !budgetMet(idle, loaded) {
		return fmt.Errorf("targets not met (see the table)")
	}
	return nil
}

// phase is what one phase measured.
type phase struct {
	byStatus map[int]int
	cold     []time.Duration // latencies of answers built from the ERP (X-Cache MISS)
	requests int
	erp      doubleStats
	classes  map[string][2]int64 // class -> sent, refused (both replicas)
	pushers  time.Duration       // until both pushers finished; 0: they did not
}

func (p phase) p(q int) time.Duration {
	if len(p.cold) == 0 {
		return 0
	}
	s := slices.Clone(p.cold)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*q/100)]
}

// sessions runs one My Account session per customer, starting one every
// every, on alternate replicas, and waits for all.
func (w *world) sessions(ctx context.Context, customers []string, every time.Duration) phase {
	ph := phase{byStatus: map[int]int{}}
	var mu sync.Mutex
	record := func(status int, cache string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		ph.requests++
		ph.byStatus[status]++
		if status == http.StatusOK && cache == "MISS" {
			ph.cold = append(ph.cold, d)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i, c := range customers {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ph
			case <-tick.C:
			}
		}
		base := "http://" + w.addrs[i%len(w.addrs)]
		wg.Go(func() { session(ctx, client, base, c, record) })
	}
	wg.Wait()
	return ph
}

// session is one customer opening My Account, as the before-stop check
// of the repository's guide does it.
func session(ctx context.Context, client *http.Client, base, c string, record func(int, string, time.Duration)) {
	get := func(path string) []byte {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.Header.Set("X-Api-Key", keySteady)
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			record(0, "", time.Since(start))
			return nil
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		record(res.StatusCode, res.Header.Get("X-Cache"), time.Since(start))
		if res.StatusCode != http.StatusOK {
			if os.Getenv("FAULTS_DEBUG") != "" {
				fmt.Fprintf(os.Stderr, "budget: %s %d %s\n", path, res.StatusCode, body)
			}
			return nil
		}
		return body
	}
	lists := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range []string{"/v1/orders", "/v1/invoices", "/v1/backorders", "/v1/addresses"} {
		wg.Go(func() {
			b := get(p + "?customer_no=" + c)
			mu.Lock()
			lists[p] = b
			mu.Unlock()
		})
	}
	wg.Wait()
	var ol struct {
		Orders []struct{ ID string } `json:"orders"`
	}
	var il struct {
		Invoices []struct{ ID string } `json:"invoices"`
	}
	_ = json.Unmarshal(lists["/v1/orders"], &ol)
	_ = json.Unmarshal(lists["/v1/invoices"], &il)
	models := map[string]bool{}
	for _, o := range ol.Orders[:min(3, len(ol.Orders))] {
		var order struct {
			Products []struct{ Model string } `json:"products"`
		}
		_ = json.Unmarshal(get("/v1/orders/"+o.ID+"?customer_no="+c), &order)
		for _, p := range order.Products {
			if p.Model != "" {
				models[p.Model] = true
			}
		}
	}
	for _, inv := range il.Invoices[:min(1, len(il.Invoices))] {
		get("/v1/invoices/" + inv.ID + "?customer_no=" + c)
	}
	if len(models) > 0 {
		ms := slices.Sorted(func(yield func(string) bool) {
			for m := range models {
				if !yield(m) {
					return
				}
			}
		})
		list := strings.Join(ms[:min(10, len(ms))], ",")
		get("/v1/prices?customer_no=" + c + "&products=" + list)
		get("/v1/stock?products=" + list)
	}
}

const (
	orderToken = "budget-vendre-token-0123456789"
	sinkSecret = "budget-sink-secret"
)

// postOrder sends Vendre's new_order webhook for order i.
func (w *world) postOrder(ctx context.Context, i int) error {
	body := fmt.Sprintf(`{"event":"new_order","order":{"id":"B%d","created_at":"2026-11-20T10:00:00Z","currency":"SEK",`+
		`"customer":{"customer_no":"10001"},"reference":"Sale %d","comment":"","shipping_cost":49.0,`+
		`"delivery":{"name":"Anna","address":"Storgatan 1","address2":"","zipcode":"111 22","ziparea":"Stockholm","country_iso":"SWE"},`+
		`"rows":[{"model":"SK-3101","quantity":1,"price":100.0,"discount":0.0}]}}`, i, i)
	for try := 0; ; try++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+w.addrs[i%len(w.addrs)]+"/webhooks/vendre", strings.NewReader(body))
		req.Header.Set("X-Webhook-Token", orderToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusAccepted {
				return nil
			}
		}
		if try == 50 || ctx.Err() != nil {
			return fmt.Errorf("order %d not accepted: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pushersDone waits until the sink has every article and the order
// pusher's backlog is empty, and returns how long that took from start
// (0 when not within maxWait).
func (w *world) pushersDone(ctx context.Context, token string, sink *stockSink, products int, start time.Time, maxWait time.Duration) time.Duration {
	for time.Since(start) < maxWait && ctx.Err() == nil {
		time.Sleep(time.Second)
		if sink.count() < products {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.addrs[0]+"/admin/pushers", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var ps api.Pushers
		err = json.NewDecoder(res.Body).Decode(&ps)
		res.Body.Close()
		if err != nil {
			continue
		}
		done := true
		for _, p := range ps.Pushers {
			if p.Name == "orders" && (p.Backlog > 0 || p.DeadLetters > 0) {
				done = false
			}
		}
		if done {
			return time.Since(start)
		}
	}
	return 0
}

func (w *world) erpStats() doubleStats {
	var st doubleStats
	_ = getJSON("http://"+w.erpAdmin+"/stats", &st)
	return st
}

// classCalls sums gateway_erp_budget_calls_total over the replicas.
func (w *world) classCalls() map[string][2]int64 {
	out := map[string][2]int64{}
	for _, a := range w.addrs {
		res, err := http.Get("http://" + a + "/metrics") // #nosec G107 -- our own replica on loopback
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "gateway_erp_budget_calls_total{") {
				continue
			}
			class := between(line, `class="`, `"`)
			decision := between(line, `decision="`, `"`)
			f := strings.Fields(line)
			n, _ := strconv.ParseFloat(f[len(f)-1], 64)
			v := out[class]
			if decision == "sent" {
				v[0] += int64(n)
			} else {
				v[1] += int64(n)
			}
			out[class] = v
		}
		res.Body.Close()
	}
	return out
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

// stockSink is the stock pusher's webhook sink: it counts the distinct
// articles it was sent.
type stockSink struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	seen map[string]bool
}

func startStockSink() (*stockSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &stockSink{url: "http://" + ln.Addr().String() + "/stock", seen: map[string]bool{}}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		m := hmac.New(sha256.New, []byte(sinkSecret))
		m.Write(body)
		if !hmac.Equal([]byte(r.Header.Get("X-Signature")), []byte("sha256="+hex.EncodeToString(m.Sum(nil)))) {
			http.Error(rw, "bad signature", http.StatusUnauthorized)
			return
		}
		var b struct {
			Items []struct {
				ProductNo string `json:"product_no"`
			} `json:"items"`
		}
		_ = json.Unmarshal(body, &b)
		s.mu.Lock()
		for _, it := range b.Items {
			s.seen[it.ProductNo] = true
		}
		s.mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *stockSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p := range s.seen {
		if strings.HasPrefix(p, "GEN-") {
			n++
		}
	}
	return n
}

func (s *stockSink) close() { _ = s.srv.Close() }

func budgetMet(idle, loaded phase) bool {
	for _, ph := range []phase{idle, loaded} {
		if ph.byStatus[503] > 0 || ph.byStatus[429] > 0 || ph.byStatus[0] > 0 || len(ph.cold) == 0 {
			return false
		}
		for _, o := range ph.erp.Over {
			if o > 0 {
				return false
			}
		}
	}
	return loaded.pushers > 0 && float64(loaded.p(99)) <= 1.5*float64(idle.p(99))
}

func renderBudget(limit string, latency time.Duration, sessions int, every time.Duration, products, orders int, idle, loaded phase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nBudget scenario: the ERP double allows %s per rate-limit group (Extend's standard) and answers in %s; 2 replicas sharing Redis, every setting at its default. Per phase %d My Account sessions of customers new to the cache, one every %s. Loaded: a %d-article stock sweep and %d order imports start with the phase.\n\n",
		limit, latency, sessions, every, products, orders)
	b.WriteString("| phase | requests | 200 | 429 | 503 | other | cold answers | cold p50 | cold p99 | ERP calls sales/products/other | interactive sent/refused | refresh sent/refused | background sent/refused | over ERP limit | pushers finished after |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range []struct {
		name string
		ph   phase
	}{{"idle", idle}, {"loaded", loaded}} {
		ph := r.ph
		other := ph.requests - ph.byStatus[200] - ph.byStatus[429] - ph.byStatus[503]
		var over int64
		for _, o := range ph.erp.Over {
			over += o
		}
		done := "-"
		if r.name == "loaded" {
			done = "did not finish"
			if ph.pushers > 0 {
				done = ph.pushers.Round(time.Second).String()
			}
		}
		cl := func(c string) string { v := ph.classes[c]; return fmt.Sprintf("%d/%d", v[0], v[1]) }
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %s | %s | %d/%d/%d | %s | %s | %s | %d | %s |\n",
			r.name, ph.requests, ph.byStatus[200], ph.byStatus[429], ph.byStatus[503], other, len(ph.cold), ms(ph.p(50)), ms(ph.p(99)),
			ph.erp.Groups["sales"], ph.erp.Groups["products"], ph.erp.Groups["other"],
			cl("interactive"), cl("refresh"), cl("background"), over, done)
	}
	ratio := 0.0
	if idle.p(99) > 0 {
		ratio = float64(loaded.p(99)) / float64(idle.p(99))
	}
	verdict := "met"
	if !budgetMet(idle, loaded) {
		verdict = "**not met**"
	}
	fmt.Fprintf(&b, "\nLoaded cold p99 / idle cold p99: %.2fx (target at most 1.5x). Targets: %s.\n", ratio, verdict)
	return b.String()
}
