package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// load is an open-loop load generator: requests start at a fixed rate
// whatever the answers' latency, at most maxInFlight at once (a request
// that would exceed it is counted as shed by the client, not queued).
type load struct {
	replicas  []string // base URLs; requests go round robin, a refused connection moves to the next
	key       string
	customers []string
	client    *http.Client

	mu  sync.Mutex
	ids map[string][]string // customer -> order and invoice paths seen in lists

	cachedMu sync.Mutex
	cached   map[string]bool // URLs answered 200 before the fault

	next atomic.Uint64
}

const maxInFlight = 6000

func newLoad(replicas []string, key string, customers []string) *load {
	return &load{
		replicas: replicas, key: key, customers: customers,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0, IdleConnTimeout: 30 * time.Second,
		}},
		ids:    map[string][]string{},
		cached: map[string]bool{},
	}
}

// result is one request's outcome.
type result struct {
	at        time.Duration // since the run started
	status    int           // 0: no answer (connection failed everywhere)
	cache     string
	latency   time.Duration
	preCached bool // the URL had a 200 before the fault began
}

// tally is what a run measured.
type tally struct {
	results []result
	shed    int64
}

// target picks a request: a list (70%) or one record seen in a list.
func (l *load) target(r *rand.Rand) (path string) {
	c := l.customers[r.IntN(len(l.customers))]
	if r.IntN(10) < 3 {
		l.mu.Lock()
		ids := l.ids[c]
		l.mu.Unlock()
		if len(ids) > 0 {
			return ids[r.IntN(len(ids))] + "?customer_no=" + c
		}
	}
	if r.IntN(2) == 0 {
		return "/v1/orders?customer_no=" + c
	}
	return "/v1/invoices?customer_no=" + c
}

// do sends one request and learns record ids from list answers.
func (l *load) do(ctx context.Context, path, key string) result {
	start := time.Now()
	first := int(l.next.Add(1) % 1024) // #nosec G115 -- reduced first
	for i := range l.replicas {
		base := l.replicas[(first+i)%len(l.replicas)]
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.Header.Set("X-Api-Key", key)
		res, err := l.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			continue // as a load balancer would: the next replica
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			l.learn(path, body)
		} else if os.Getenv("FAULTS_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "faults: %s %d %s\n", path, res.StatusCode, body)
		}
		return result{status: res.StatusCode, cache: res.Header.Get("X-Cache"), latency: time.Since(start)}
	}
	return result{latency: time.Since(start)}
}

// learn keeps the ids of a list answer for later single-record requests.
func (l *load) learn(path string, body []byte) {
	var v struct {
		Orders   []struct{ ID string } `json:"orders"`
		Invoices []struct{ ID string } `json:"invoices"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Orders)+len(v.Invoices) == 0 {
		return
	}
	c := customerOf(path)
	var ids []string
	for _, o := range v.Orders {
		if o.ID != "" {
			ids = append(ids, "/v1/orders/"+o.ID)
		}
	}
	for _, inv := range v.Invoices {
		if inv.ID != "" {
			ids = append(ids, "/v1/invoices/"+inv.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	kind := ids[0][:len("/v1/orders/")]
	l.mu.Lock()
	keep := ids[:min(len(ids), 10)] // the latest list's records, and the other kind's
	for _, old := range l.ids[c] {
		if !strings.HasPrefix(old, kind) {
			keep = append(keep, old)
		}
	}
	l.ids[c] = keep
	l.mu.Unlock()
}

func customerOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '=' {
			return path[i+1:]
		}
	}
	return ""
}

// run sends rate requests per second for d. faultAt is when the fault
// begins (0: none): URLs answered 200 before it are "cached before the
// fault". burst, when > 0, adds that many requests within one second at
// d/2 from burstKey.
func (l *load) run(ctx context.Context, rate int, d, faultAt time.Duration, burst int, burstKey string) *tally {
	t := &tally{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)) // #nosec G404 G115 -- load pattern, not a secret
	start := time.Now()
	send := func(path, key string) {
		if inFlight.Add(1) > maxInFlight {
			inFlight.Add(-1)
			atomic.AddInt64(&t.shed, 1)
			return
		}
		wg.Go(func() {
			defer inFlight.Add(-1)
			at := time.Since(start)
			l.cachedMu.Lock()
			pre := l.cached[path]
			l.cachedMu.Unlock()
			res := l.do(ctx, path, key)
			res.at, res.preCached = at, pre
			if res.status == http.StatusOK && (faultAt == 0 || at < faultAt) {
				l.cachedMu.Lock()
				l.cached[path] = true
				l.cachedMu.Unlock()
			}
			mu.Lock()
			t.results = append(t.results, res)
			mu.Unlock()
		})
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	burstDone := burst == 0
	for time.Since(start) < d && ctx.Err() == nil {
		<-tick.C
		send(l.target(r), l.key)
		if !burstDone && time.Since(start) >= d/2 {
			burstDone = true
			// burst requests within one second, in 1 ms steps.
			wg.Go(func() {
				br := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2)) // #nosec G404 G115 -- load pattern, not a secret
				step := time.NewTicker(time.Millisecond)
				defer step.Stop()
				for sent := 0; sent < burst; {
					<-step.C
					due := min(burst, int(time.Since(start)-d/2)*burst/int(time.Second)+1)
					for ; sent < due; sent++ {
						send(l.target(br), burstKey)
					}
				}
			})
		}
	}
	// Let the last requests finish (bounded by the client's timeout).
	wg.Wait()
	return t
}

// warm reads every customer's lists, at most rate per second, in up to
// three passes (a cold cache makes the gateway refuse what the ERP's rate
// limit cannot carry; those are read again).
func (l *load) warm(ctx context.Context, rate int) (ok, failed int) {
	var todo []string
	for _, c := range l.customers {
		todo = append(todo, "/v1/orders?customer_no="+c, "/v1/invoices?customer_no="+c)
	}
	for pass := 0; pass < 3 && len(todo) > 0 && ctx.Err() == nil; pass++ {
		var mu sync.Mutex
		var again []string
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / time.Duration(rate))
		sem := make(chan struct{}, 256)
		for _, p := range todo {
			<-tick.C
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if res := l.do(ctx, p, l.key); res.status == http.StatusOK {
					l.cachedMu.Lock()
					l.cached[p] = true
					l.cachedMu.Unlock()
					return
				}
				mu.Lock()
				again = append(again, p)
				mu.Unlock()
			})
		}
		wg.Wait()
		tick.Stop()
		ok += len(todo) - len(again)
		todo = again
	}
	return ok, len(todo)
}
