package retry_test

import (
	"testing"
	"time"

	"github.com/vendre-extend/gateway/retry"
)

func TestWait(t *testing.T) {
	p := retry.Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for _, tt := range []struct {
		attempt  int
		interval time.Duration
	}{
		{0, 100 * time.Millisecond}, {1, 100 * time.Millisecond}, {2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond}, {5, time.Second}, {64, time.Second},
	} {
		lo, hi := tt.interval/2, tt.interval*3/2
		seen := map[time.Duration]bool{}
		for range 200 {
			w := p.Wait(tt.attempt)
			if w < lo || w > hi+1 {
				t.Fatalf("Wait(%d) = %s, want %s to %s", tt.attempt, w, lo, hi)
			}
			seen[w] = true
		}
		if len(seen) < 2 {
			t.Errorf("Wait(%d) always %v: want it drawn at random", tt.attempt, seen)
		}
	}
	if w := (retry.Policy{}).Wait(3); w != 0 {
		t.Errorf("zero Policy: Wait(3) = %s, want 0", w)
	}
}

func TestBackOff(t *testing.T) {
	p := retry.Policy{Base: 50 * time.Millisecond, Max: time.Second}
	b := p.BackOff()
	interval := p.Base
	for n := 1; n <= 8; n++ {
		w := b.NextBackOff()
		if w < interval/2 || w > interval*3/2+1 {
			t.Fatalf("retry %d: wait %s, want %s to %s", n, w, interval/2, interval*3/2)
		}
		interval = min(2*interval, p.Max)
	}
}
