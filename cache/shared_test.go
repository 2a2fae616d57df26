package cache_test

import (
	"context"
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

func TestRedisBump(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	s := cache.NewRedis(rdb, prefix)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "a"} {
		if err := s.SetCounted(ctx, k, []byte("v"), time.Minute, "n:c", "n:all"); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan string, 4)
	sctx, cancel := context.WithCancel(ctx)
	subscribed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		s.Subscribe(sctx, "ch", func(p string) { got <- p }, func() { subscribed <- struct{}{} })
	})
	defer func() { cancel(); wg.Wait() }()
	<-subscribed

	b, err := s.Bump(ctx, "gen:all", "gen:c", "seq", "n:c", "ch", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (cache.Bumped{All: 0, Gen: 1, Seq: 1, Retired: 2}); b != want {
		t.Errorf("Bump = %+v, want %+v", b, want)
	}
	b, err = s.Bump(ctx, "gen:all", "gen:all", "seq", "n:all", "ch", "*")
	if err != nil {
		t.Fatal(err)
	}
	if want := (cache.Bumped{All: 1, Gen: 1, Seq: 2, Retired: 2}); b != want {
		t.Errorf("flush-all Bump = %+v, want %+v", b, want)
	}
	for _, want := range []string{"c1 0 1 1", "* 1 1 2"} {
		select {
		case p := <-got:
			if p != want {
				t.Errorf("notice = %q, want %q", p, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no notice %q", want)
		}
	}
	v, err := s.Ints(ctx, "gen:all", "gen:c", "seq", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != 1 || v[1] != 1 || v[2] != 2 || v[3] != 0 {
		t.Errorf("Ints = %v, want [1 1 2 0]", v)
	}
}

func TestKeysGeneration(t *testing.T) {
	var k cache.Keys
	tests := []struct{ name, got, want string }{
		{"Generation", k.Generation(k.Order("10001", "5"), 3, 12), "v1:c:10001:order:5:g3.12"},
		{"Scope of a customer key", k.Scope(k.OrderList("10001", "a", "b", 1, 25)), "10001"},
		{"Scope of an escaped customer", k.Scope(k.Order("a:b", "1")), k.CustomerScope("a:b")},
		{"Scope of a record", k.Scope(k.OrderRecord("5")), ""},
		{"GenCustomer", k.GenCustomer(k.CustomerScope("10001")), "v1:gen:c:10001"},
		{"Written all", k.Written(""), "v1:n:all"},
		{"Lock", k.Lock("v1:x"), "v1:lock:v1:x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
			}
		})
	}
}
