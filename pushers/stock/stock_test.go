package stock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

func batchOf(n int) Batch {
	var b Batch
	for i := range n {
		b.Items = append(b.Items, Item{Product: fmt.Sprintf("P-%04d", i), Levels: []Level{
			{Warehouse: "BUT", Available: int64(i % 7)}, {Warehouse: "HUV", Available: int64(i % 5)},
		}})
	}
	return b
}

var fileName = regexp.MustCompile(`^stock-\d{8}T\d{6}Z-\d{6}\.txt$`)

// TestFileSink writes through a directory and a real FTP server.
func TestFileSink(t *testing.T) {
	ftpURL, ftpDir := startFTP(t)
	dir := t.TempDir()
	ft, err := NewFTPTarget(ftpURL)
	if err != nil {
		t.Fatal(err)
	}
	s := NewFileSink(nil, DirTarget{Dir: dir}, ft)
	ctx := context.Background()
	if _, err := s.Push(ctx, batchOf(3)); err != nil {
		t.Fatal(err)
	}
	b2 := batchOf(2)
	b2.Items[1].Levels[0].Available = 100 // P-0001 changes: the later file wins
	if _, err := s.Push(ctx, b2); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, ftpDir} {
		got, files := readStockDir(t, d)
		if files != 2 {
			t.Errorf("%s: %d files, want 2", d, files)
		}
		want := map[string]int64{"P-0000": 0, "P-0001": 101, "P-0002": 4}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %d, want %d", d, k, got[k], v)
			}
		}
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if !fileName.MatchString(e.Name()) {
				t.Errorf("file name %q does not match %s", e.Name(), fileName)
			}
		}
	}
	if ft.String() == ftpURL {
		t.Errorf("FTP target String() shows the password")
	}

	bad, _ := NewFTPTarget("ftp://vendre:wrong@" + ft.u.Host + "/stock")
	if _, err := NewFileSink(nil, bad).Push(ctx, batchOf(1)); err == nil {
		t.Error("push with a wrong FTP password succeeded")
	}
}

func TestRetailCRM(t *testing.T) {
	crm, srv := startCRM(t)
	crm.unknown["P-0003"] = true
	ctx := context.Background()
	s := NewRetailCRM(newCRM(t, srv.URL, "crm-key"), map[string]string{"HUV": "main"})
	rep, err := s.Push(ctx, batchOf(600))
	if err != nil {
		t.Fatal(err)
	}
	if crm.requests != 3 || crm.maxOffer != 250 {
		t.Errorf("requests = %d (max %d offers), want 3 of at most 250", crm.requests, crm.maxOffer)
	}
	if len(rep.NotFound) != 1 || rep.NotFound[0] != "P-0003" {
		t.Errorf("NotFound = %v, want [P-0003]", rep.NotFound)
	}
	if got := crm.stock["P-0004"]; got["main"] != 4 || got["BUT"] != 4 {
		t.Errorf("P-0004 = %v, want main (HUV) 4 and BUT 4", got)
	}

	tests := []struct {
		name     string
		key      string
		fail     int
		rejected bool
	}{
		{"throttled is retried", "crm-key", http.StatusTooManyRequests, false},
		{"server error is retried", "crm-key", http.StatusBadGateway, false},
		{"validation is not", "crm-key", http.StatusBadRequest, true},
		{"wrong key is not", "nope", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fail != 0 {
				crm.failNext = []int{tt.fail}
			}
			_, err := NewRetailCRM(newCRM(t, srv.URL, tt.key), nil).Push(ctx, batchOf(1))
			if err == nil || errors.Is(err, ErrRejected) != tt.rejected {
				t.Errorf("Push err = %v, rejected want %v", err, tt.rejected)
			}
		})
	}
}

func TestWebhookSink(t *testing.T) {
	hook, srv := startHook(t, "hook-secret")
	ctx := context.Background()
	if _, err := NewWebhook(srv.URL, "hook-secret", nil).Push(ctx, batchOf(200)); err != nil {
		t.Fatal(err)
	}
	if hook.requests != 2 || hook.maxItems != 250 { // 400 items
		t.Errorf("requests = %d (max %d items), want 2 of at most 250", hook.requests, hook.maxItems)
	}
	if got := hook.stock["P-0006"]["BUT"]; got != 6 {
		t.Errorf("P-0006@BUT = %d, want 6", got)
	}
	_, err := NewWebhook(srv.URL, "wrong", nil).Push(ctx, batchOf(1))
	if !errors.Is(err, ErrRejected) || hook.badSig != 1 {
		t.Errorf("wrongly signed push: err = %v, bad signatures seen %d", err, hook.badSig)
	}
}

// TestPusherConverges is the "Done when" run: balance changes over many
// products, most announced by events and some lost, pushed to every sink
// (directory, FTP, RetailCRM, webhook); after a sweep the shop's stock
// equals the ERP's for every product, and a sweep takes at most
// ceil(products/250) batches. E2E_FULL=1: 2,000 products, 10,000 changes.
func TestPusherConverges(t *testing.T) {
	products, changes := 300, 1500
	if os.Getenv("E2E_FULL") == "1" {
		products, changes = 2000, 10000
	}
	rdb, prefix := cachetest.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sim := extendsim.New(extendsim.Options{Customers: -1})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	client, err := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	names := make([]string, products)
	for i := range names {
		names[i] = fmt.Sprintf("GEN-%05d", i)
		sim.SetAvailability(names[i], extendsim.WarehouseMain, float64(rnd.IntN(500)))
		sim.SetAvailability(names[i], extendsim.WarehouseStore, float64(rnd.IntN(50)))
	}
	all := len(names) + len(sim.ProductNumbers())
	maxBatches := int64((all + 249) / 250)

	ftpURL, ftpDir := startFTP(t)
	ft, _ := NewFTPTarget(ftpURL)
	dir := t.TempDir()
	crm, crmSrv := startCRM(t)
	hook, hookSrv := startHook(t, "s")
	sinks := []Sink{
		NewFileSink(RedisSeq(rdb, SeqKey(prefix)), DirTarget{Dir: dir}, ft),
		NewRetailCRM(newCRM(t, crmSrv.URL, "crm-key"), nil),
		NewWebhook(hookSrv.URL, "s", nil),
	}
	p := New(rdb, client, sinks, Config{Prefix: prefix, SweepEvery: time.Hour, Poll: 20 * time.Millisecond,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	// The shop allows more than the production pace in this test.
	for _, l := range p.lims {
		l.SetLimit(1000)
	}
	start := time.Now()
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()

	settled := func(sweeps int64) func() bool {
		return func() bool {
			// Sweeps first: a sweep counts after it marked its products,
			// so an empty backlog read after it means they were pushed
			// (read the other way round, the empty backlog of before the
			// sweep passed for the end of it).
			swept := p.Stats().Sweeps >= sweeps
			st, err := p.Status(ctx)
			return err == nil && swept && st.Backlog == 0
		}
	}
	waitFor(t, "first (full) sweep pushed", settled(1))
	if got := p.Stats().LastSweepBatches; got > maxBatches {
		t.Errorf("first sweep took %d batches, want at most %d", got, maxBatches)
	}
	first := p.Stats()

	// Changes: 70 % announced by a balance event, 30 % lost.
	announced := 0
	for range changes {
		name := names[rnd.IntN(len(names))]
		wh := extendsim.WarehouseMain
		if rnd.IntN(2) == 0 {
			wh = extendsim.WarehouseStore
		}
		sim.SetAvailability(name, wh, float64(rnd.IntN(500)))
		if rnd.IntN(10) < 7 {
			announced++
			if err := p.BalanceChanged(ctx, name, wh); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "events pushed", settled(1))
	// The periodic sweep heals the lost events.
	rdb.Del(ctx, p.k.swept())
	p.poke <- struct{}{}
	waitFor(t, "second sweep pushed", settled(2))
	st := p.Stats()
	if st.LastSweepBatches > maxBatches {
		t.Errorf("second sweep took %d batches, want at most %d", st.LastSweepBatches, maxBatches)
	}
	elapsed := time.Since(start)

	// Every sink now shows the ERP's stock for every product.
	want := map[string]map[string]int64{}
	for page := 1; ; page++ {
		pg, err := client.ProductAvailability(ctx, nil, "", time.Time{}, page, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range pg.Items {
			if want[a.ProductNumber] == nil {
				want[a.ProductNumber] = map[string]int64{}
			}
			want[a.ProductNumber][a.Warehouse] = whole(float64(a.AvailableBalance))
		}
		if page*100 >= pg.TotalCount {
			break
		}
	}
	dirStock, files := readStockDir(t, dir)
	ftpStock, ftpFiles := readStockDir(t, ftpDir)
	drift := 0
	for prod, whs := range want {
		var sum int64
		for w, v := range whs {
			sum += v
			if crm.stock[prod][w] != v || hook.stock[prod][w] != v {
				drift++
			}
		}
		if dirStock[prod] != sum || ftpStock[prod] != sum {
			drift++
		}
	}
	if drift > 0 {
		t.Errorf("%d product/sink values differ from the ERP", drift)
	}
	t.Logf("%d products (%d generated), %d changes (%d announced), %v: first sweep %d batches, "+
		"events %d batches, second sweep %d batches (max %d); %d products pushed, %d skipped as unchanged; "+
		"%d files in the directory, %d on FTP, %d RetailCRM requests, %d webhook requests",
		len(want), products, changes, announced, elapsed.Round(time.Millisecond), first.LastSweepBatches,
		st.Batches-first.Batches-st.LastSweepBatches, st.LastSweepBatches, maxBatches, st.Pushed, st.Skipped,
		files, ftpFiles, crm.requests, hook.requests)
	cancel()
	<-done
}

// TestPusherDeadLetters: a sink that keeps failing gets the batch parked;
// Replay pushes it once the sink is back.
func TestPusherDeadLetters(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := extendsim.New(extendsim.Options{Customers: -1})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	client, _ := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	crm, crmSrv := startCRM(t)
	p := New(rdb, client, []Sink{NewRetailCRM(newCRM(t, crmSrv.URL, "crm-key"), nil)}, Config{Prefix: prefix,
		SweepEvery: time.Hour, Poll: 10 * time.Millisecond, MaxAttempts: 3, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond})
	rdb.Set(ctx, p.k.swept(), time.Now().UnixMilli(), 0) // no first sweep
	rdb.Set(ctx, p.k.watermark(), time.Now().UTC().Format(time.RFC3339), 0)
	crm.mu.Lock()
	crm.failNext = []int{503, 503, 503}
	crm.mu.Unlock()
	go p.Run(ctx)
	p.BalanceChanged(ctx, "SK-3101", "HUV")
	waitFor(t, "batch parked", func() bool {
		st, _ := p.Status(ctx)
		return st.DeadLetters == 1 && st.Backlog == 0
	})
	st, _ := p.Status(ctx)
	if st.LastError == "" || len(st.Recent) != 1 {
		t.Errorf("status = %+v, want the error and the dead letter", st)
	}
	if err := p.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replayed", func() bool {
		crm.mu.Lock()
		defer crm.mu.Unlock()
		return crm.stock["SK-3101"] != nil
	})
	st, _ = p.Status(ctx)
	if st.DeadLetters != 0 {
		t.Errorf("dead letters after replay = %d", st.DeadLetters)
	}
}

// waitFor polls cond for up to 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPusherTakesLegacyMarks: products an earlier release left in its
// dirty set and in-flight hash are pushed after the upgrade.
func TestPusherTakesLegacyMarks(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := extendsim.New(extendsim.Options{Customers: -1})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	client, _ := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	crm, crmSrv := startCRM(t)
	p := New(rdb, client, []Sink{NewRetailCRM(newCRM(t, crmSrv.URL, "crm-key"), nil)}, Config{Prefix: prefix,
		SweepEvery: time.Hour, Poll: 10 * time.Millisecond})
	rdb.Set(ctx, p.k.swept(), time.Now().UnixMilli(), 0) // no first sweep
	rdb.Set(ctx, p.k.watermark(), time.Now().UTC().Format(time.RFC3339), 0)
	rdb.ZAdd(ctx, p.k.dirty(), redis.Z{Score: 1, Member: "SK-3101"})
	rdb.HSet(ctx, p.k.inflight(), "SK-3102", 1)
	go p.Run(ctx)
	waitFor(t, "both pushed", func() bool {
		crm.mu.Lock()
		defer crm.mu.Unlock()
		return crm.stock["SK-3101"] != nil && crm.stock["SK-3102"] != nil
	})
	if n := rdb.Exists(ctx, p.k.dirty(), p.k.inflight()).Val(); n != 0 {
		t.Errorf("%d legacy keys left", n)
	}
	waitFor(t, "backlog empty", func() bool { st, _ := p.Status(ctx); return st.Backlog == 0 })
}
