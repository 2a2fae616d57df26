package cache_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
)

func TestRedisLock(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	s := cache.NewRedis(rdb, prefix)
	ctx := t.Context()
	tok, err := s.TryLock(ctx, "lock", time.Minute)
	if err != nil || tok == "" {
		t.Fatalf("first TryLock = %q, %v; want a token", tok, err)
	}
	if tok2, err := s.TryLock(ctx, "lock", time.Minute); err != nil || tok2 != "" {
		t.Fatalf("second TryLock = %q, %v; want \"\" (held)", tok2, err)
	}
	if held, _ := s.Exists(ctx, "lock"); !held {
		t.Errorf("Exists(lock) = false while held")
	}
	// A stale holder's token must not release the lock.
	if err := s.Unlock(ctx, "lock", "not-the-token"); err != nil {
		t.Fatal(err)
	}
	if held, _ := s.Exists(ctx, "lock"); !held {
		t.Errorf("Unlock with a wrong token released the lock")
	}
	if err := s.Unlock(ctx, "lock", tok); err != nil {
		t.Fatal(err)
	}
	if held, _ := s.Exists(ctx, "lock"); held {
		t.Errorf("Unlock with the token left the lock")
	}
}

// TestRedisRetire: Retire and RetireScopes count the keys written under the
// generation they replace, announce the flush, and start missing
// generations afresh; Generations sets only what is missing. The keys are
// tagged as keys.go tags them, so this runs on a cluster too: "{g}" for
// the flush-all generation and the sequence, "{c}" for a customer.
func TestRedisRetire(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	s := cache.NewRedis(rdb, prefix)
	ctx := t.Context()
	g, err := s.Generations(ctx, [2]uint64{0xa1, 0xc1}, "{g}:all", "{c}:gen")
	if err != nil || g != [2]uint64{0xa1, 0xc1} {
		t.Fatalf("first Generations = %x, %v; want the fresh tokens [a1 c1]", g, err)
	}
	if g, _ := s.Generations(ctx, [2]uint64{0xa2, 0xc2}, "{g}:all", "{c}:gen"); g != [2]uint64{0xa1, 0xc1} {
		t.Errorf("second Generations = %x, want the kept [a1 c1]", g)
	}
	for _, k := range []string{"a", "b", "a"} {
		err := s.SetCounted(ctx, time.Minute, cache.Item{Key: k, Val: []byte("v"), Counted: []string{"{g}:n:a1", "{c}:n:a1.c1"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan string, 4)
	sctx, cancel := context.WithCancel(ctx)
	subscribed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		s.Subscribe(sctx, "ch", func(p string) { got <- p }, func() { subscribed <- struct{}{} }, func() {})
	})
	defer func() { cancel(); wg.Wait() }()
	<-subscribed

	r, err := s.RetireScopes(ctx, "{c}:seq", "{c}:n:", "ch", 0xa1, "7", cache.Retirement{Gen: "{c}:gen", Note: "c", Token: 0xc2})
	if err != nil {
		t.Fatal(err)
	}
	if want := (cache.Retired{Was: 0xa1, All: 0xa1, Seq: 1, Count: 2}); r != want {
		t.Errorf("Retire = %+v, want %+v", r, want)
	}
	r, err = s.Retire(ctx, "{g}:all", "{g}:seq", "{g}:n:", "ch", 0xa9, cache.Retirement{Gen: "{g}:all", Note: "*", Token: 0xa2})
	if err != nil {
		t.Fatal(err)
	}
	if want := (cache.Retired{Was: 0xa1, All: 0xa2, Seq: 1, Count: 2}); r != want {
		t.Errorf("flush-all Retire = %+v, want %+v", r, want)
	}
	// Redis lost its data: the flush-all generation starts afresh, never
	// at an old value.
	rdb.Del(ctx, prefix+"{g}:all", prefix+"{g}:seq")
	rdb.Del(ctx, prefix+"{c}:gen", prefix+"{c}:seq")
	r, err = s.Retire(ctx, "{g}:all", "{g}:seq", "{g}:n:", "ch", 0xa9, cache.Retirement{Gen: "{g}:all", Note: "*", Token: 0xa3})
	if err != nil {
		t.Fatal(err)
	}
	if want := (cache.Retired{Was: 0xa9, All: 0xa3, Seq: 1, Count: 0}); r != want {
		t.Errorf("flush-all Retire after a loss = %+v, want %+v", r, want)
	}
	// A replica that knows no flush-all generation names none: nothing is
	// counted, the notice says "0".
	r, err = s.RetireScopes(ctx, "{c}:seq", "{c}:n:", "ch", 0, "7", cache.Retirement{Gen: "{c}:gen", Note: "c", Token: 0xc3})
	if err != nil {
		t.Fatal(err)
	}
	if want := (cache.Retired{Seq: 1}); r != want {
		t.Errorf("Retire after a loss = %+v, want %+v", r, want)
	}
	for _, want := range []string{"c a1 a1 c2 7 1", "* a1 a2 a2 g 1", "* a9 a3 a3 g 1", "c 0 0 c3 7 1"} {
		select {
		case p := <-got:
			if p != want {
				t.Errorf("notice = %q, want %q", p, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no notice %q", want)
		}
	}
	v, err := s.GetMany(ctx, "{g}:all", "{c}:gen", "{c}:seq", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if string(v[0]) != "a3" || string(v[1]) != "c3" || string(v[2]) != "1" || v[3] != nil {
		t.Errorf("GetMany = %q, want [a3 c3 1 nil]", v)
	}
}

func TestKeysGeneration(t *testing.T) {
	var k cache.Keys
	tests := []struct{ name, got, want string }{
		{"Generation", k.Generation(k.Order("10001", "5"), 0x3f, 0x12), "v5:c:{10001}:orders:one:5:g3f.12"},
		{"Scope of a list", k.Scope(k.OrderList("10001", "a", "b", 1, 25)), "{10001}:orders"},
		{"Scope of an invoice", k.Scope(k.Invoice("10001", "2025-06-01", "7")), "{10001}:invoices"},
		{"Scope of an escaped customer", k.Scope(k.Order("a:b", "1")), k.FamilyScope("a:b", cache.FamilyOrders)},
		{"Scope of a price", k.Scope(k.Price("10001", "AB-1")), k.FamilyScope("10001", cache.FamilyPrices)},
		{"Scope of a record", k.Scope(k.OrderRecord("5")), ""},
		{"Scope of stock", k.Scope(k.Stock("AB-1")), ""},
		{"GenScope", k.GenScope(k.FamilyScope("10001", cache.FamilyInvoices)), "v5:{s9}:gen:{10001}:invoices"},
		{"GenAll", k.GenAll(), "v5:{gen}:all"},
		{"GenSeq", k.GenSeq(), "v5:{gen}:seq"},
		{"ShardSeq", k.ShardSeq(k.Shard(k.FamilyScope("10001", cache.FamilyOrders))), "v5:{s9}:seq"},
		{"Shard of another customer", strconv.Itoa(k.Shard(k.FamilyScope("10002", cache.FamilyPrices))), "50"},
		{"Feed", k.Feed(), "v5:{gen}:feed"},
		{"Counted", k.Counted(""), "v5:{gen}:n:"},
		{"Counted of a customer", k.Counted(k.FamilyScope("10001", cache.FamilyOrders)), "v5:{s9}:n:{10001}:"},
		{"Lock", k.Lock("v5:x"), "v5:lock:v5:x"},
		{"Lock of several", k.Lock("v5:x", "v5:y")[:13], "v5:lock:many:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
			}
		})
	}
}
