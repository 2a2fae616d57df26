// Command cluster runs two gateway replicas on a local Redis Cluster with a
// replica per master, and measures what Redis Cluster support promises:
//
//   - cold x200: 200 concurrent requests for one answer nobody has cached,
//     spread over both replicas, the ERP answering in 50 ms, cost one ERP
//     fetch (the cross-replica lock and coalescing hold on a cluster);
//
//   - failover: while readers ask both replicas for answers cached before,
//     and Extend webhooks and Vendre shop orders arrive, one master is
//     SIGKILLed and its replica promoted. No read of a key cached before
//     the kill may answer 5xx; every webhook answered 2xx is applied, and
//     every shop order answered 202 is in the ERP exactly once, once the
//     cluster is whole.
//
//     go run ./bench/cluster              # the defaults, about 30 s
//     go run ./bench/cluster -kill orders # the master of the shop orders' queue instead
//     go run ./bench/cluster -kill gen    # or that of the cache's flush-all generation
//
// It needs go, redis-server and redis-cli; it starts everything itself
// (scripts/redis-cluster.sh, the simulated Extend Commerce in process, the
// gateway built with go build, every setting at its default) and stops it
// at the end. It exits non-zero when a promise is broken.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/webhook"
)

const (
	apiKey        = "cluster-bench-key-0123456789"
	webhookSecret = "cluster-bench-webhook-secret"
	vendreToken   = "cluster-bench-vendre-token-0123456789"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

type options struct {
	customers  int
	readers    int
	kill       string
	after      time.Duration
	hooksPerS  int
	ordersPerS int
}

func run() error {
	var o options
	flag.IntVar(&o.customers, "customers", 100, "generated customers, one cached answer each (the default ERP budget, 300 calls a minute, warms them all)")
	flag.IntVar(&o.readers, "readers", 16, "concurrent readers during the failover")
	flag.StringVar(&o.kill, "kill", "wh", "which master to kill: the one holding the webhook stream (wh), the shop orders' queue (orders) or the cache's flush-all generation (gen)")
	flag.DurationVar(&o.after, "after", 3*time.Second, "how long the readers go on once the cluster is whole again")
	flag.IntVar(&o.hooksPerS, "webhooks", 10, "Extend webhooks a second during the failover")
	flag.IntVar(&o.ordersPerS, "orders", 5, "Vendre shop orders a second during the failover")
	keep := flag.Bool("keep", false, "keep the gateways' logs (the directory is printed)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "cluster-bench-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "cluster: logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return err
	}
	repo := filepath.Dir(strings.TrimSpace(string(root)))

	step("building the gateway")
	gw := filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", gw, "./cmd/gateway")
	build.Dir, build.Stderr = repo, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}

	step("starting a Redis Cluster: 3 masters, a replica each")
	script := filepath.Join(repo, "scripts", "redis-cluster.sh")
	cdir := filepath.Join(dir, "cluster")
	out, err := exec.Command(script, "start", cdir, "3", "1").Output()
	if err != nil {
		return fmt.Errorf("redis-cluster.sh start: %w", err)
	}
	defer exec.Command(script, "stop", cdir).Run()
	url := strings.TrimSpace(string(out))
	u, err := cache.ParseRedisURL(url)
	if err != nil {
		return err
	}
	ctx := context.Background()
	rdb, err := u.Open(ctx, cache.Timeouts{})
	if err != nil {
		return err
	}
	defer rdb.Close()
	crdb := rdb.(*redis.ClusterClient)

	sim := extendsim.New(extendsim.Options{ClientID: "bench", ClientSecret: "bench-secret", Customers: o.customers})
	var latency atomic.Int64
	erpSrv, erpAddr, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(latency.Load()))
		sim.ServeHTTP(w, r)
	}))
	if err != nil {
		return err
	}
	defer erpSrv.Close()

	step("starting two gateway replicas on it")
	var gws []string
	for i := range 2 {
		addr, err := freePort()
		if err != nil {
			return err
		}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("gateway-%d.log", i)))
		if err != nil {
			return err
		}
		cmd := exec.Command(gw)
		cmd.Env = append(os.Environ(),
			"LISTEN_ADDR="+addr, "REDIS_URL="+url, "EXTEND_BASE_URL=http://"+erpAddr,
			"PUBLIC_BASE_URL=https://gateway.bench.test", "EXTEND_CLIENT_ID=bench", "EXTEND_CLIENT_SECRET=bench-secret",
			"VENDRE_API_KEYS="+apiKey, "DOCUMENT_SECRET=cluster-bench-document-secret",
			"EXTEND_WEBHOOK_SECRET="+webhookSecret, "ORDER_SOURCES=vendre-webhook", "VENDRE_WEBHOOK_TOKEN="+vendreToken,
			"LOG_LEVEL=warn", "OTEL_SDK_DISABLED=true")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return err
		}
		defer func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() }()
		if err := waitHealthy(addr); err != nil {
			return fmt.Errorf("gateway %d: %w (log: %s)", i, err, tail(logf.Name()))
		}
		gws = append(gws, "http://"+addr)
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	customers := sim.CustomerNumbers()
	var warm, cold []string
	for _, c := range customers {
		if ns := sim.OrderNumbers(c); len(ns) > 1 {
			warm = append(warm, fmt.Sprintf("/v1/orders/%s?customer_no=%s", ns[0], c))
			cold = append(cold, fmt.Sprintf("/v1/orders/%s?customer_no=%s", ns[1], c))
		}
	}
	if len(warm) < 2 {
		return errors.New("the simulated ERP has too few customers with two orders")
	}

	// Cold x200: each replica's OAuth token first, then a 50 ms ERP.
	step("cold x200 over both replicas")
	for _, g := range gws {
		if st, _ := get(client, g+warm[0]); st != http.StatusOK {
			return fmt.Errorf("GET %s%s = %d", g, warm[0], st)
		}
	}
	latency.Store(int64(50 * time.Millisecond))
	before := sim.Calls(extendsim.OpOrder)
	burst := coldBurst(client, gws, cold[0], 200)
	coldCalls := sim.Calls(extendsim.OpOrder) - before
	latency.Store(0)

	step(fmt.Sprintf("warming %d customers' answers on both replicas", len(warm)))
	for _, p := range warm {
		for _, g := range gws {
			if st, _ := get(client, g+p); st != http.StatusOK {
				return fmt.Errorf("warming GET %s = %d", p, st)
			}
		}
	}

	// The master to kill, and what it holds.
	key, ok := map[string]string{"wh": "gwq:{wh}:queue", "orders": "gwq:{orders}:due", "gen": "gw:" + cache.Keys{}.GenAll()}[o.kill]
	if !ok {
		return fmt.Errorf("-kill %q: want wh, orders or gen", o.kill)
	}
	master, err := crdb.MasterForKey(ctx, key)
	if err != nil {
		return err
	}
	killAddr := master.Options().Addr
	onKilled := 0
	var coldOnKilled []string // uncached answers of the customers whose slot dies
	for i, c := range customers {
		m, err := crdb.MasterForKey(ctx, "gw:"+cache.Keys{}.CustomerPrefix(c))
		if err == nil && m.Options().Addr == killAddr {
			onKilled++
			if ns := sim.OrderNumbers(c); len(ns) > 1 && i > 0 {
				coldOnKilled = append(coldOnKilled, fmt.Sprintf("/v1/orders/%s?customer_no=%s", ns[1], c))
			}
		}
	}
	pid, err := pidOf(script, cdir, killAddr)
	if err != nil {
		return err
	}

	step(fmt.Sprintf("failover: %d readers and %d webhooks/s; SIGKILL of the master %s (holds %s and %d of %d customers' slots) after 1 s",
		o.readers, o.hooksPerS, killAddr, key, onKilled, len(customers)))
	var (
		stop     atomic.Bool
		mu       sync.Mutex
		statuses = map[string]map[int]int{} // phase -> status -> count
		lats     = map[string][]time.Duration{}
		phase    atomic.Value
		accepted []string
		hooks    = map[string]map[int]int{} // phase -> status -> count
		ordered  []string                   // shop orders answered 202, as the ERP names them
		orders   = map[string]map[int]int{}
		wg       sync.WaitGroup
	)
	phase.Store("before")
	record := func(ph string, st int, d time.Duration) {
		mu.Lock()
		if statuses[ph] == nil {
			statuses[ph] = map[int]int{}
		}
		statuses[ph][st]++
		lats[ph] = append(lats[ph], d)
		mu.Unlock()
	}
	for i := range o.readers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for n := 0; !stop.Load(); n++ {
				ph := phase.Load().(string)
				t0 := time.Now()
				st, _ := get(client, gws[n%len(gws)]+warm[r.IntN(len(warm))])
				record(ph, st, time.Since(t0))
			}
		})
	}
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(max(o.hooksPerS, 1)))
		defer tick.Stop()
		for n := 0; !stop.Load(); n++ {
			<-tick.C
			id := fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
			c := customers[n%len(customers)]
			ns := sim.OrderNumbers(c)
			if len(ns) == 0 {
				continue
			}
			body := []byte(fmt.Sprintf(`{"Id":"%032x","Properties":{"NotificationId":%q},"Notifications":[{"Action":"OrderUpdated","Details":{"OrderNumber":%q}}]}`, n, id, ns[0]))
			st := postWebhook(client, gws[n%len(gws)], body)
			ph := phase.Load().(string) // when it was answered
			mu.Lock()
			if st/100 == 2 {
				accepted = append(accepted, id)
			}
			if hooks[ph] == nil {
				hooks[ph] = map[int]int{}
			}
			hooks[ph][st]++
			mu.Unlock()
		}
	})

	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(max(o.ordersPerS, 1)))
		defer tick.Stop()
		for n := 0; !stop.Load(); n++ {
			<-tick.C
			id := strconv.Itoa(9000 + n)
			st := postOrder(client, gws[n%len(gws)], id)
			ph := phase.Load().(string)
			mu.Lock()
			if st == http.StatusAccepted {
				ordered = append(ordered, "V-"+id)
			}
			if orders[ph] == nil {
				orders[ph] = map[int]int{}
			}
			orders[ph][st]++
			mu.Unlock()
		}
	})

	time.Sleep(time.Second)
	phase.Store("during")
	killedAt := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	// While the slot is down: answers nobody cached, of customers whose
	// slot died, come from the ERP.
	coldSt := map[int]int{}
	wg.Go(func() {
		time.Sleep(200 * time.Millisecond)
		for i, p := range coldOnKilled {
			if phase.Load().(string) != "during" {
				break
			}
			st, _ := get(client, gws[i%len(gws)]+p)
			mu.Lock()
			coldSt[st]++
			mu.Unlock()
		}
	})
	if err := waitPromoted(ctx, crdb, key, killAddr, 30*time.Second); err != nil {
		stop.Store(true)
		wg.Wait()
		return err
	}
	promoted := time.Since(killedAt)
	phase.Store("after")
	time.Sleep(o.after)
	stop.Store(true)
	wg.Wait()

	step("waiting for every accepted webhook to be applied")
	// Counted by the gateways themselves (gateway_webhooks_total), not by
	// reading the queue's keys: the way the queue keeps its work may change.
	var applied, dead int64
	for wait := time.Now(); time.Since(wait) < 60*time.Second; time.Sleep(200 * time.Millisecond) {
		applied, dead = webhooksDone(client, gws)
		if applied+dead >= int64(len(accepted)) {
			break
		}
	}

	step("waiting for every accepted shop order to be in the ERP")
	var inERP, twice int
	for wait := time.Now(); time.Since(wait) < 90*time.Second; time.Sleep(200 * time.Millisecond) {
		counts := sim.ExternalOrderCounts()
		inERP, twice = 0, 0
		for _, ext := range ordered {
			if c := counts[ext]; c >= 1 {
				inERP++
				if c > 1 {
					twice++
				}
			}
		}
		if inERP == len(ordered) {
			break
		}
	}

	// The report.
	fmt.Println()
	fmt.Printf("machine: %d cores; cluster: 3 masters, 1 replica each, cluster-node-timeout %s ms; gateway replicas: 2, default settings\n",
		numCPU(), envOr("CLUSTER_NODE_TIMEOUT", "2000"))
	fmt.Printf("cold x200 over 2 replicas (ERP 50 ms): ERP order fetches %d; p50 %s ms, p99 %s ms; statuses %v\n",
		coldCalls, burst.p50, burst.p99, burst.statuses)
	fmt.Printf("failover: killed master %s (%s, %d/%d customers' slots); replica promoted and cluster_state ok after %s\n",
		killAddr, key, onKilled, len(customers), promoted.Round(time.Millisecond))
	bad := 0
	for _, ph := range []string{"before", "during", "after"} {
		l := lats[ph]
		slices.Sort(l)
		fmt.Printf("  reads %-6s the kill: %6d requests, statuses %v, p50 %s ms, p99 %s ms\n",
			ph, len(l), statuses[ph], ms(pct(l, 50)), ms(pct(l, 99)))
		for st, n := range statuses[ph] {
			if st >= 500 || st == 0 {
				bad += n
			}
		}
	}
	fmt.Printf("  shop orders: statuses before %v, during %v, after %v; %d accepted (202), %d in the ERP (%d more than once)\n",
		orders["before"], orders["during"], orders["after"], len(ordered), inERP, twice)
	fmt.Printf("  uncached answers of the dead slot's customers, asked while it was down: statuses %v\n", coldSt)
	lost := int64(len(accepted)) - applied
	fmt.Printf("  webhooks: statuses before %v, during %v, after %v; %d accepted (2xx), %d applied after the run, %d dead letters (lost %d)\n",
		hooks["before"], hooks["during"], hooks["after"], len(accepted), applied, dead, max(lost, 0))

	var broken []string
	if coldCalls != 1 {
		broken = append(broken, fmt.Sprintf("cold x200 cost %d ERP fetches, want 1", coldCalls))
	}
	for st, n := range coldSt {
		if st >= 500 || st == 0 {
			bad += n
		}
	}
	if bad > 0 {
		broken = append(broken, fmt.Sprintf("%d reads answered 5xx or failed", bad))
	}
	if lost > 0 || dead > 0 {
		broken = append(broken, fmt.Sprintf("%d accepted webhooks were not applied, %d dead letters", lost, dead))
	}
	if inERP < len(ordered) || twice > 0 {
		broken = append(broken, fmt.Sprintf("of %d accepted shop orders %d reached the ERP, %d more than once", len(ordered), inERP, twice))
	}
	if len(broken) > 0 {
		return errors.New(strings.Join(broken, "; "))
	}
	return nil
}

func step(s string) { fmt.Fprintln(os.Stderr, "cluster:", s+"...") }

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// serve serves h on a free loopback port.
func serve(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, ln.Addr().String(), nil
}

func waitHealthy(addr string) error {
	for range 200 {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not healthy within 10 s")
}

func tail(name string) string {
	b, _ := os.ReadFile(name)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// get fetches url as Vendre does; status 0 is a transport error.
func get(c *http.Client, url string) (int, []byte) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Api-Key", apiKey)
	res, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// postWebhook delivers body as Extend does, signed; status 0 is a
// transport error.
func postWebhook(c *http.Client, gw string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, gw+"/webhooks/extend", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("ms-signature", webhook.Sign(body, webhookSecret))
	res, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// postOrder sends Vendre's new-order webhook for shop order id; status 0
// is a transport error.
func postOrder(c *http.Client, gw, id string) int {
	body := fmt.Sprintf(`{"event":"new_order","order":{"id":%q,"created_at":"2026-11-20T10:00:00Z","currency":"SEK",`+
		`"customer":{"customer_no":"10001","email":"a@example.com"},"reference":"Web %s","comment":"","shipping_cost":49.0,`+
		`"delivery":{"name":"Anna","address":"Storgatan 1","address2":"","zipcode":"111 22","ziparea":"Stockholm","country_iso":"SWE"},`+
		`"rows":[{"model":"SK-3101","name":"Skyddssko","quantity":2,"price":100.0,"discount":0.0}]}}`, id, id)
	req, _ := http.NewRequest(http.MethodPost, gw+"/webhooks/vendre", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Token", vendreToken)
	res, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// webhooksDone sums, over the gateways' /metrics, the notifications that
// took effect (outcome applied, or ignored: a record the ERP does not
// have) and those parked as dead letters.
func webhooksDone(c *http.Client, gws []string) (done, dead int64) {
	for _, g := range gws {
		res, err := c.Get(g + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "gateway_webhooks_total{") {
				continue
			}
			f := strings.Fields(line)
			n, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				continue
			}
			switch {
			case strings.Contains(line, `outcome="applied"`), strings.Contains(line, `outcome="ignored"`):
				done += int64(n)
			case strings.Contains(line, `outcome="dead_letter"`):
				dead += int64(n)
			}
		}
	}
	return done, dead
}

type burstResult struct {
	p50, p99 string
	statuses map[int]int
}

// coldBurst sends n requests for path at once, round-robin over gws.
func coldBurst(c *http.Client, gws []string, path string, n int) burstResult {
	lat := make([]time.Duration, n)
	sts := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			sts[i], _ = get(c, gws[i%len(gws)]+path)
			lat[i] = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(lat)
	r := burstResult{p50: ms(pct(lat, 50)), p99: ms(pct(lat, 99)), statuses: map[int]int{}}
	for _, s := range sts {
		r.statuses[s]++
	}
	return r
}

func pct(l []time.Duration, p int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[min(len(l)-1, len(l)*p/100)]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

// pidOf returns the pid of the node listening on addr
// (redis-cluster.sh nodes: "port pid role").
func pidOf(script, dir, addr string) (int, error) {
	out, err := exec.Command(script, "nodes", dir).Output()
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(addr)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == port {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no node on %s", addr)
}

// waitPromoted waits until key's slot has a master other than killed and
// that master says cluster_state:ok.
func waitPromoted(ctx context.Context, c *redis.ClusterClient, key, killed string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		c.ReloadState(ctx)
		m, err := c.MasterForKey(ctx, key)
		if err != nil || m.Options().Addr == killed {
			continue
		}
		info, err := m.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") && m.Ping(ctx).Err() == nil {
			return nil
		}
	}
	return fmt.Errorf("no replica took over %s within %s", killed, within)
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return max(strings.Count(string(b), "processor\t:"), 1)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
