package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/ratelimit"
)

// double is the ERP double: the simulated Extend Commerce (erp/extendsim)
// behind knobs an admin port turns, and a meter of what the gateway did
// to it: calls per rate-limit group per second, and the worst second.
type double struct {
	sim   *extendsim.Server
	limit ratelimit.Limit // Extend's own limit per group; over it: 429
	down  atomic.Bool     // connections are cut
	calls atomic.Int64

	mu       sync.Mutex
	window   time.Time        // start of the current window
	inWindow map[string]int   // calls per group in the current window
	worst    map[string]int   // most calls of a group in any window
	over     map[string]int64 // calls over Extend's limit (answered 429)
	products int              // synthetic articles (synthetic)
	latency  atomic.Int64     // time.Duration the synthetic answers take too
	byGroup  map[string]int64 // calls per rate-limit group
}

// runDouble serves the double until killed: `faults erp -addr -admin`.
func runDouble(args []string) error {
	fs := flag.NewFlagSet("erp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "API address")
	admin := fs.String("admin", "127.0.0.1:0", "admin address")
	customers := fs.Int("customers", 1000, "generated customers")
	limit := fs.String("limit", "600/1s", "Extend's limit per rate-limit group")
	products := fs.Int("products", 0, "synthetic articles GEN-00001… in ProductAvailability (a stock sweep's volume)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := ratelimit.Parse(*limit)
	if err != nil {
		return err
	}
	d := &double{
		// The double enforces Extend's limit itself (below), not the sim.
		sim:   extendsim.New(extendsim.Options{Customers: *customers, Seed: 7, Limit: -1}),
		limit: l, inWindow: map[string]int{}, worst: map[string]int{}, over: map[string]int64{},
		products: *products, byGroup: map[string]int64{},
	}
	lnAPI, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	lnAdmin, err := net.Listen("tcp", *admin)
	if err != nil {
		return err
	}
	fmt.Printf("api=%s admin=%s\n", lnAPI.Addr(), lnAdmin.Addr())
	go func() { _ = (&http.Server{Handler: d.adminMux(), ReadHeaderTimeout: 5 * time.Second}).Serve(lnAdmin) }()
	return (&http.Server{Handler: d, ReadHeaderTimeout: 5 * time.Second}).Serve(lnAPI)
}

// ServeHTTP meters one call, enforces Extend's limit, and passes it on.
func (d *double) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.down.Load() {
		panic(http.ErrAbortHandler) // the connection is cut: a broken connection
	}
	d.calls.Add(1)
	group := erp.RateGroup(r.URL.Path)
	now := time.Now()
	d.mu.Lock()
	if now.Sub(d.window) >= d.limit.Per {
		d.window = now.Truncate(d.limit.Per)
		clear(d.inWindow)
	}
	d.inWindow[group]++
	d.byGroup[group]++
	n := d.inWindow[group]
	d.worst[group] = max(d.worst[group], n)
	over := d.limit.Enabled() && n > d.limit.N
	if over {
		d.over[group]++
	}
	d.mu.Unlock()
	if over {
		h := w.Header()
		h.Set("Retry-After", "1")
		h.Set("X-Ratelimit-Limit", strconv.Itoa(d.limit.N))
		h.Set("X-Ratelimit-Remaining", "0")
		h.Set("X-Ratelimit-Reset", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"ErrorType":"Throttling","Message":"rate limit exceeded"}`))
		return
	}
	if d.products > 0 && r.URL.Path == "/ProductAvailability" && d.synthetic(w, r, time.Duration(d.latency.Load())) {
		return
	}
	d.sim.ServeHTTP(w, r)
}

// synthetic answers GET /ProductAvailability from the synthetic articles:
// a sweep (no productNumbers) lists them all, a look-up of GEN- articles
// finds them; anything else is the sim's (false).
func (d *double) synthetic(w http.ResponseWriter, r *http.Request, latency time.Duration) bool {
	q := r.URL.Query()
	var want []string
	if s := q.Get("productNumbers"); s != "" {
		want = strings.Split(s, ",")
		for _, p := range want {
			if !strings.HasPrefix(p, "GEN-") {
				return false
			}
		}
	}
	time.Sleep(latency)
	page, _ := strconv.Atoi(q.Get("page"))
	size, _ := strconv.Atoi(q.Get("pageSize"))
	page, size = max(page, 1), min(max(size, 1), 100)
	row := func(i int) erp.Availability {
		return erp.Availability{ProductNumber: fmt.Sprintf("GEN-%05d", i), Warehouse: extendsim.WarehouseMain,
			AvailableBalance: erp.Number(i % 250), ChangedAt: "2026-11-01T08:00:00Z"}
	}
	var rows []erp.Availability
	if want == nil {
		for i := (page-1)*size + 1; i <= min(page*size, d.products); i++ {
			rows = append(rows, row(i))
		}
		writeJSONPage(w, rows, page, size, d.products)
		return true
	}
	for _, p := range want {
		if i, err := strconv.Atoi(strings.TrimPrefix(p, "GEN-")); err == nil && i >= 1 && i <= d.products {
			rows = append(rows, row(i))
		}
	}
	total := len(rows)
	rows = rows[min(len(rows), (page-1)*size):min(len(rows), page*size)]
	writeJSONPage(w, rows, page, size, total)
	return true
}

func writeJSONPage(w http.ResponseWriter, rows []erp.Availability, page, size, total int) {
	if rows == nil {
		rows = []erp.Availability{}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(erp.Page[erp.Availability]{Items: rows, Page: page, PageSize: size, TotalCount: total})
}

// doubleStats is what GET /stats answers.
type doubleStats struct {
	Calls  int64            `json:"calls"`
	Worst  map[string]int   `json:"worst_per_window"`
	Over   map[string]int64 `json:"over_limit"`
	Limit  string           `json:"limit"`
	Groups map[string]int64 `json:"calls_per_group"`
}

// adminMux: POST /fault?down=1&latency=2s&status=503&garbage=0.1,
// POST /reset, GET /stats, POST /stats/reset.
func (d *double) adminMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("down") == "1" {
			d.down.Store(true)
		}
		if s := q.Get("latency"); s != "" {
			lat, err := time.ParseDuration(s)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			d.sim.SetLatency(lat)
			d.latency.Store(int64(lat))
		}
		if s := q.Get("status"); s != "" {
			st, _ := strconv.Atoi(s)
			d.sim.SetFailing(st)
		}
		if s := q.Get("garbage"); s != "" {
			frac, _ := strconv.ParseFloat(s, 64)
			for _, c := range d.sim.CustomerNumbers() {
				for i, n := range d.sim.OrderNumbers(c) {
					if float64(i%10) < frac*10 {
						d.sim.SetGarbage(n)
					}
				}
			}
		}
	})
	mux.HandleFunc("POST /reset", func(http.ResponseWriter, *http.Request) {
		d.down.Store(false)
		d.latency.Store(0)
		d.sim.ResetFaults()
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		d.mu.Lock()
		s := doubleStats{Calls: d.calls.Load(), Worst: clone(d.worst), Over: clone(d.over), Limit: d.limit.String(), Groups: clone(d.byGroup)}
		d.mu.Unlock()
		_ = json.NewEncoder(w).Encode(s)
	})
	mux.HandleFunc("POST /stats/reset", func(http.ResponseWriter, *http.Request) {
		d.mu.Lock()
		d.calls.Store(0)
		clear(d.worst)
		clear(d.over)
		clear(d.byGroup)
		d.mu.Unlock()
	})
	mux.HandleFunc("GET /customers", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(d.sim.CustomerNumbers())
	})
	return mux
}

func clone[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
