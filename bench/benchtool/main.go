// Command benchtool is the helper of bench/run.sh: the simulated ERP with
// many customers, a static origin for nginx, and a burst of concurrent
// cold requests. It is not part of the gateway.
//
//	benchtool erp -addr 127.0.0.1:9101 -customers 1000 -paths paths.txt
//	benchtool origin -addr 127.0.0.1:9102 -body answer.json
//	benchtool burst -n 200 -header 'X-Api-Key: k' URL...
//
// erp and origin answer GET /_calls with their call counts and take
// POST /_latency?d=50ms to make every answer that slow.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vendre-extend/gateway/erp/extendsim"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool erp|origin|burst [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "erp":
		err = runERP(ctx, os.Args[2:])
	case "origin":
		err = runOrigin(ctx, os.Args[2:])
	case "burst":
		err = runBurst(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

// latency is a settable delay in front of a handler.
type latency struct{ d atomic.Int64 }

func (l *latency) wrap(h http.Handler, calls func() any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_calls":
			json.NewEncoder(w).Encode(calls())
			return
		case "/_latency":
			d, err := time.ParseDuration(r.URL.Query().Get("d"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			l.d.Store(int64(d))
			return
		}
		if d := time.Duration(l.d.Load()); d > 0 {
			time.Sleep(d)
		}
		h.ServeHTTP(w, r)
	})
}

func serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// runERP serves the simulated Extend Commerce with -customers generated
// customers, and writes to -paths one order detail path per customer.
func runERP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("erp", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9101", "listen address")
	customers := fs.Int("customers", 1000, "generated customers")
	paths := fs.String("paths", "", "write one path per customer here: their latest order, /v1/orders/{n}?customer_no=")
	cold := fs.String("cold", "", "write paths of orders not in -paths (each customer's second latest) here")
	id := fs.String("client-id", "bench", "OAuth client id")
	secret := fs.String("client-secret", "bench-secret", "OAuth client secret")
	fs.Parse(args)
	sim := extendsim.New(extendsim.Options{ClientID: *id, ClientSecret: *secret, Customers: *customers})
	if *paths != "" {
		var b strings.Builder
		var second []string
		for _, c := range sim.CustomerNumbers() {
			ns := sim.OrderNumbers(c)
			if len(ns) == 0 {
				continue
			}
			fmt.Fprintf(&b, "/v1/orders/%s?customer_no=%s\n", ns[0], c)
			if len(ns) > 1 {
				second = append(second, fmt.Sprintf("/v1/orders/%s?customer_no=%s", ns[1], c))
			}
		}
		if err := os.WriteFile(*paths, []byte(b.String()), 0o644); err != nil {
			return err
		}
		if *cold != "" && len(second) > 0 {
			if err := os.WriteFile(*cold, []byte(strings.Join(second, "\n")+"\n"), 0o644); err != nil {
				return err
			}
		}
	}
	ops := []string{extendsim.OpToken, extendsim.OpOrderList, extendsim.OpOrder, extendsim.OpInvoiceList, extendsim.OpInvoice}
	var l latency
	return serve(ctx, *addr, l.wrap(sim, func() any {
		m := map[string]int{}
		for _, op := range ops {
			m[op] = sim.Calls(op)
		}
		return m
	}))
}

// runOrigin serves the bytes of -body for every path, as nginx's origin.
func runOrigin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("origin", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9102", "listen address")
	bodyFile := fs.String("body", "", "the answer to serve")
	fs.Parse(args)
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return err
	}
	var calls atomic.Int64
	var l latency
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	})
	return serve(ctx, *addr, l.wrap(h, func() any { return map[string]int64{"calls": calls.Load()} }))
}

// runBurst sends -n requests at once, spread round-robin over the URLs,
// and prints their latency percentiles and status counts.
func runBurst(args []string) error {
	fs := flag.NewFlagSet("burst", flag.ExitOnError)
	n := fs.Int("n", 200, "concurrent requests")
	header := fs.String("header", "", "a request header, 'Name: value'")
	warm := fs.String("warm", "/healthz", "path fetched n times at once on each host first, so the burst finds its connections open")
	fs.Parse(args)
	urls := fs.Args()
	if len(urls) == 0 {
		return fmt.Errorf("burst: no URL")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *n, MaxConnsPerHost: 0, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	// Open the connections first, so that the burst times requests, not
	// TCP handshakes.
	var wg sync.WaitGroup
	for i := range *n {
		wg.Go(func() {
			host := strings.Split(strings.TrimPrefix(urls[i%len(urls)], "http://"), "/")[0]
			if res, err := client.Get("http://" + host + *warm); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	lat := make([]time.Duration, *n)
	status := make([]string, *n)
	start := make(chan struct{})
	for i := range *n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, urls[i%len(urls)], nil)
			if k, v, ok := strings.Cut(*header, ":"); ok {
				req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			<-start
			t0 := time.Now()
			res, err := client.Do(req)
			if err != nil {
				status[i] = "error"
				lat[i] = time.Since(t0)
				return
			}
			io.Copy(io.Discard, bufio.NewReader(res.Body))
			res.Body.Close()
			lat[i] = time.Since(t0)
			status[i] = fmt.Sprintf("%d %s", res.StatusCode, res.Header.Get("X-Cache"))
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(lat)
	counts := map[string]int{}
	for _, s := range status {
		counts[s]++
	}
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	fmt.Printf("p50_ms=%.1f p99_ms=%.1f max_ms=%.1f statuses=%v\n", q(0.5), q(0.99), q(1), counts)
	return nil
}
