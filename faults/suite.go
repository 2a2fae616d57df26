package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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
	"time"
)

// proc is a child process the suite started; it knows whether it died
// without being asked to.
type proc struct {
	name   string
	cmd    *exec.Cmd
	killed atomic.Bool
	exited chan struct{}
	crash  atomic.Bool
}

func start(name string, cmd *exec.Cmd) (*proc, error) {
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		_ = cmd.Wait()
		if !p.killed.Load() {
			p.crash.Store(true)
			fmt.Fprintf(os.Stderr, "faults: %s exited on its own: %v\n", name, cmd.ProcessState)
		}
		close(p.exited)
	}()
	return p, nil
}

// kill ends the process (SIGKILL: a crash, as far as the others can tell).
func (p *proc) kill() {
	p.killed.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// rss is the process's resident memory in MiB (0 when it is gone).
func (p *proc) rss() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// world is every process of a run.
type world struct {
	o        options
	dir      string
	gateway  string // binary
	redis    *proc
	redisAt  string
	erp      *proc
	erpAPI   string
	erpAdmin string
	replicas []*proc
	addrs    []string
	load     *load
}

const (
	keySteady = "fault-key-steady"
	keyBurst  = "fault-key-bursty"
)

// open builds the gateway and starts Redis and the ERP double, in a new
// temporary directory; close stops what it started and removes that.
func open(ctx context.Context, o options) (*world, error) {
	dir, err := os.MkdirTemp("", "faults-")
	if err != nil {
		return nil, err
	}
	w := &world{o: o, dir: dir}
	for _, step := range []func() error{func() error { return w.build(ctx) }, w.startRedis, w.startERP} {
		if err := step(); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

func (w *world) close() {
	w.stop()
	os.RemoveAll(w.dir)
}

func suite(ctx context.Context, o options) error {
	w, err := open(ctx, o)
	if err != nil {
		return err
	}
	defer w.close()
	for i := range 2 {
		if err := w.startReplica(i); err != nil {
			return err
		}
	}
	var customers []string
	if err := getJSON("http://"+w.erpAdmin+"/customers", &customers); err != nil {
		return err
	}
	customers = customers[:min(len(customers), o.customers)]
	w.load = newLoad([]string{"http://" + w.addrs[0], "http://" + w.addrs[1]}, keySteady, customers)

	t0 := time.Now()
	okN, failN := w.load.warm(ctx, 2*o.rate)
	fmt.Fprintf(os.Stderr, "faults: warmed %d customers' lists in %s (%d ok, %d not)\n", len(customers), time.Since(t0).Round(time.Second), okN, failN)

	var rows []row
	for _, sc := range scenarios(w) {
		if o.only != nil && !o.only[sc.name] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "faults: %s (%s)\n", sc.name, o.seconds)
		rows = append(rows, w.scenario(ctx, sc))
	}
	table := render(o, rows)
	fmt.Print(table)
	if o.out != "" {
		_ = os.MkdirAll(filepath.Dir(o.out), 0o750)
		if err := os.WriteFile(o.out, []byte(table), 0o600); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if !r.ok() {
			return fmt.Errorf("targets not met (see the table)")
		}
	}
	return nil
}

func (w *world) build(ctx context.Context) error {
	root, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	w.gateway = filepath.Join(w.dir, "gateway")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", w.gateway, "./cmd/gateway") // #nosec G204 -- our own temp dir
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/gateway: %w", err)
	}
	return nil
}

func (w *world) startRedis() error {
	if w.redisAt == "" {
		w.redisAt = freePort()
	}
	_, port, _ := net.SplitHostPort(w.redisAt)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", w.dir) // #nosec G204 -- fixed program, our own port
	p, err := start("redis", cmd)
	if err != nil {
		return fmt.Errorf("%w (is redis-server installed?)", err)
	}
	w.redis = p
	return waitFor(func() bool {
		c, err := net.DialTimeout("tcp", w.redisAt, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (w *world) startERP() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "erp", "-customers", strconv.Itoa(w.o.customers), "-limit", w.o.erpLimit, "-products", strconv.Itoa(w.o.products)) // #nosec G204 -- ourselves
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if w.erp, err = start("erp", cmd); err != nil {
		return err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("erp double: %w", err)
	}
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "api="); ok {
			w.erpAPI = v
		}
		if v, ok := strings.CutPrefix(f, "admin="); ok {
			w.erpAdmin = v
		}
	}
	return nil
}

func (w *world) startReplica(i int) error {
	for len(w.addrs) <= i {
		w.addrs = append(w.addrs, freePort())
		w.replicas = append(w.replicas, nil)
	}
	cmd := exec.Command(w.gateway) // #nosec G204 -- the binary we built
	cmd.Env = append(os.Environ(),
		"LISTEN_ADDR="+w.addrs[i],
		"EXTEND_BASE_URL=http://"+w.erpAPI,
		"PUBLIC_BASE_URL=https://gateway.faults.test", // required outside demo mode, as in production
		"EXTEND_CLIENT_ID=demo-client", "EXTEND_CLIENT_SECRET=demo-secret",
		"DOCUMENT_SECRET=faults-document-secret", // the double's client secret is short
		"REDIS_URL=redis://"+w.redisAt+"/0",
		"VENDRE_API_KEYS="+keySteady+","+keyBurst,
		"LOG_LEVEL=error",
		"OTEL_SDK_DISABLED=true",
	)
	if !w.o.defaultBudget {
		cmd.Env = append(cmd.Env,
			// The double plays an Extend whose agreement allows -erp-limit
			// per group (200 requests a second over 1,000 customers need
			// more than the standard 300 a minute); a merchant with such
			// an agreement sets EXTEND_RATE_LIMIT to it, as here.
			"EXTEND_RATE_LIMIT="+w.o.erpLimit,
			// Answers go stale within the run, so refreshes happen.
			"CACHE_TTL_LIST=5s", "CACHE_TTL_DETAIL=5s",
		)
	}
	cmd.Env = append(cmd.Env, w.o.env...)
	logf, err := os.Create(filepath.Join(w.dir, fmt.Sprintf("gateway-%d.log", i)))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if w.replicas[i], err = start(fmt.Sprintf("gateway-%d", i), cmd); err != nil {
		return err
	}
	return waitFor(func() bool {
		res, err := http.Get("http://" + w.addrs[i] + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})
}

func (w *world) stop() {
	for _, p := range append(w.replicas, w.erp, w.redis) {
		if p != nil {
			select {
			case <-p.exited:
			default:
				p.kill()
			}
		}
	}
}

func waitFor(ok func() bool) error {
	for range 200 {
		if ok() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("a process did not come up within 10s")
}

func getJSON(url string, v any) error {
	res, err := http.Get(url) // #nosec G107 -- loopback admin port of our own double
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

func (w *world) admin(path string) {
	res, err := http.Post("http://"+w.erpAdmin+path, "text/plain", nil)
	if err == nil {
		res.Body.Close()
	}
}

// scenario is one fault: inject at a quarter of the run, heal at three
// quarters (a burst instead comes at half time).
type scenario struct {
	name, fault  string
	inject, heal func()
	burst        int
}

func scenarios(w *world) []scenario {
	return []scenario{
		{name: "baseline", fault: "none"},
		{name: "erp-down", fault: "ERP cuts every connection for half the run",
			inject: func() { w.admin("/fault?down=1") }, heal: func() { w.admin("/reset") }},
		{name: "erp-slow", fault: "every ERP call takes 2 s for half the run",
			inject: func() { w.admin("/fault?latency=2s") }, heal: func() { w.admin("/reset") }},
		{name: "erp-429", fault: "ERP answers 429 for half the run",
			inject: func() { w.admin("/fault?status=429") }, heal: func() { w.admin("/reset") }},
		{name: "garbage", fault: "1 in 10 order records is not JSON, from a quarter of the run on",
			inject: func() { w.admin("/fault?garbage=0.1") }},
		{name: "redis-restart", fault: "Redis killed at 1/4, restarted (empty) at 3/4",
			inject: func() { w.redis.kill() }, heal: func() { _ = w.startRedis() }},
		{name: "replica-killed", fault: "one of two replicas SIGKILLed at 1/4, restarted at 3/4",
			inject: func() { w.replicas[1].kill() }, heal: func() { _ = w.startReplica(1) }},
		{name: "burst", fault: "5,000 requests in 1 s from a second key, at half time", burst: 5000},
	}
}

// row is one scenario's figures.
type row struct {
	name, fault            string
	requests, shed         int
	byStatus               map[int]int
	noAnswer, stale        int
	other5xx, preCached5xx int
	p50, p99               time.Duration
	erpCalls               int64
	worst                  map[string]int
	over                   int64
	limit                  string
	rss                    float64 // the most of any replica, MiB
	crashed                bool
	recovery               time.Duration // until both replicas were ready after the run
}

func (r row) ok() bool {
	return r.other5xx == 0 && r.preCached5xx == 0 && !r.crashed && r.over == 0 && r.rss < 512
}

func (w *world) scenario(ctx context.Context, sc scenario) row {
	w.admin("/reset")
	w.admin("/stats/reset")
	d := w.o.seconds
	var faultAt time.Duration
	var timers []*time.Timer
	if sc.inject != nil {
		faultAt = d / 4
		timers = append(timers, time.AfterFunc(faultAt, sc.inject))
		if sc.heal != nil {
			timers = append(timers, time.AfterFunc(3*d/4, sc.heal))
		}
	}
	var rssMax atomic.Uint64
	var wg sync.WaitGroup
	sampleCtx, stopSampling := context.WithCancel(ctx)
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			for _, p := range w.replicas {
				if m := uint64(p.rss()); m > rssMax.Load() {
					rssMax.Store(m)
				}
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	})
	t := w.load.run(ctx, w.o.rate, d, faultAt, sc.burst, keyBurst)
	for _, tm := range timers {
		tm.Stop()
	}
	stopSampling()
	wg.Wait()
	// Leave the world whole for the next scenario.
	w.admin("/reset")
	if w.redis.killed.Load() {
		select {
		case <-w.redis.exited:
			_ = w.startRedis()
		default:
		}
	}
	for i, p := range w.replicas {
		select {
		case <-p.exited:
			_ = w.startReplica(i)
		default:
		}
	}
	var st doubleStats
	_ = getJSON("http://"+w.erpAdmin+"/stats", &st)
	// Before the next scenario: both replicas ready again (the circuit
	// closed or probing), which is also how long recovery took.
	healed := time.Now()
	_ = waitFor(func() bool {
		for _, a := range w.addrs {
			res, err := http.Get("http://" + a + "/readyz") // #nosec G107 -- our own replica on loopback
			if err != nil {
				return false
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return false
			}
		}
		return true
	})
	recovery := time.Since(healed)

	r := row{name: sc.name, fault: sc.fault, byStatus: map[int]int{}, shed: int(t.shed),
		erpCalls: st.Calls, worst: st.Worst, limit: st.Limit, rss: float64(rssMax.Load()), recovery: recovery}
	for _, o := range st.Over {
		r.over += o
	}
	var lat []time.Duration
	for _, res := range t.results {
		r.requests++
		switch {
		case res.status == 0:
			r.noAnswer++
			continue
		case res.status >= 500 && res.status != 502 && res.status != 503 && res.status != 504:
			r.other5xx++
		}
		if res.status >= 500 && res.preCached {
			r.preCached5xx++
		}
		r.byStatus[res.status]++
		if res.cache == "STALE" {
			r.stale++
		}
		lat = append(lat, res.latency)
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		r.p50, r.p99 = lat[n/2], lat[min(n-1, n*99/100)]
	}
	for _, p := range w.replicas {
		if p.crash.Load() {
			r.crashed = true
		}
	}
	return r
}

func render(o options, rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nFault suite: %d requests/s over %d customers, %s per scenario, 2 replicas sharing Redis; the ERP double allows %s per rate-limit group and the gateway is set to the same (EXTEND_RATE_LIMIT).\n\n", o.rate, o.customers, o.seconds, o.erpLimit)
	b.WriteString("| scenario | requests | 200 | 404 | 429 | 502 | 503 | 504 | other 5xx | 5xx for keys cached before | no answer + shed by the client | stale | p50 | p99 | ERP calls | most ERP calls in one window (sales/other) | over ERP limit | max RSS | ready again after | targets |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		verdict := "met"
		if !r.ok() {
			verdict = "**not met**"
		}
		if r.crashed {
			verdict += " (a replica crashed)"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d+%d | %d | %s | %s | %d | %d/%d | %d | %.0f MiB | %s | %s |\n",
			r.name, r.requests, r.byStatus[200], r.byStatus[404], r.byStatus[429], r.byStatus[502], r.byStatus[503], r.byStatus[504],
			r.other5xx, r.preCached5xx, r.noAnswer, r.shed, r.stale, ms(r.p50), ms(r.p99), r.erpCalls,
			r.worst["sales"], r.worst["other"], r.over, r.rss, r.recovery.Round(100*time.Millisecond), verdict)
	}
	b.WriteString("\nScenarios: ")
	for i, r := range rows {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", r.name, r.fault)
	}
	b.WriteString(".\n")
	return b.String()
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}
