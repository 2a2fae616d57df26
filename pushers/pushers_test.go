package pushers

import (
	"context"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache/cachetest"
)

func TestLeaseFencing(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ctx := context.Background()
	l := NewLease(rdb, prefix+"lease", 80*time.Millisecond)
	a, err := l.Acquire(ctx, 0)
	if err != nil || a == 0 {
		t.Fatalf("first Acquire = %d, %v", a, err)
	}
	if b, _ := l.Acquire(ctx, 0); b != 0 {
		t.Errorf("second holder got token %d while the lease is held", b)
	}
	if again, _ := l.Acquire(ctx, a); again != a {
		t.Errorf("renewal = %d, want %d", again, a)
	}
	time.Sleep(120 * time.Millisecond) // the holder pauses past the TTL
	b, _ := l.Acquire(ctx, 0)
	if b <= a {
		t.Fatalf("token after expiry = %d, want > %d (fencing tokens only grow)", b, a)
	}
	if stale, _ := l.Acquire(ctx, a); stale != 0 {
		t.Errorf("the old holder renewed with a stale token: %d", stale)
	}
	if err := l.Release(ctx, a); err != nil || rdb.Get(ctx, l.Key()).Val() == "" {
		t.Errorf("a stale Release removed the new holder's lease (err %v)", err)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{30, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			if d := Backoff(tt.attempt, 100*time.Millisecond, time.Second); d < tt.lo || d > tt.hi {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", tt.attempt, d, tt.lo, tt.hi)
			}
		}
	}
}
