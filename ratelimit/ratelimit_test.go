package ratelimit

import (
	"context"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Limit
		wantErr bool
	}{
		{"300/1m", Limit{300, time.Minute}, false},
		{" 20 / 1s ", Limit{20, time.Second}, false},
		{"off", Limit{}, false},
		{"0", Limit{}, false},
		{"", Limit{}, false},
		{"300", Limit{}, true},
		{"-1/1s", Limit{}, true},
		{"10/0s", Limit{}, true},
		{"10/forever", Limit{}, true},
		{"x/1s", Limit{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Parse(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestLocalWindow checks the promise: at most N events in any window of
// length Per, under a caller that asks every millisecond.
func TestLocalWindow(t *testing.T) {
	l := Limit{N: 50, Per: time.Second}
	x := NewLocal(l, 10)
	now := time.Unix(1_700_000_000, 0)
	x.now = func() time.Time { return now }
	var allowed []time.Time
	for i := 0; i < 5000; i++ {
		d, _ := x.Allow(context.Background(), "k")
		if d.Allowed {
			allowed = append(allowed, now)
		} else if d.RetryAfter <= 0 {
			t.Fatalf("denied with RetryAfter %v", d.RetryAfter)
		}
		now = now.Add(time.Millisecond)
	}
	if n := maxInWindow(allowed, l.Per); n > l.N {
		t.Errorf("%d events in one window, want at most %d", n, l.N)
	}
	if len(allowed) < 4*l.N { // 5 s: nearly 5 windows' worth
		t.Errorf("only %d events allowed in 5 windows of %d", len(allowed), l.N)
	}
}

func TestLocalKeysIndependentAndBounded(t *testing.T) {
	x := NewLocal(Limit{N: 1, Per: time.Hour}, 100)
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if d, _ := x.Allow(ctx, k); !d.Allowed {
			t.Errorf("first event of %q denied", k)
		}
	}
	if d, _ := x.Allow(ctx, "a"); d.Allowed || d.RetryAfter <= 0 {
		t.Errorf("second event of a = %+v, want denied with a RetryAfter", d)
	}
	for i := range 10_000 {
		_, _ = x.Allow(ctx, "flood"+string(rune(i)))
	}
	x.keys.CleanUp()
	if n := x.keys.EstimatedSize(); n > 100 {
		t.Errorf("remembers %d keys, want at most 100", n)
	}
}

// TestLocalPeek: Peek tells what Allow would, and takes nothing.
func TestLocalPeek(t *testing.T) {
	x := NewLocal(Limit{N: 20, Per: time.Minute}, 0) // burst 2
	now := time.Unix(1_700_000_000, 0)
	x.now = func() time.Time { return now }
	ctx := context.Background()
	if d := x.Peek("new"); !d.Allowed {
		t.Errorf("Peek of an unseen key = %+v, want allowed", d)
	}
	for i := range 2 {
		if d := x.Peek("k"); !d.Allowed {
			t.Fatalf("Peek before event %d = %+v, want allowed", i+1, d)
		}
		if d, _ := x.Allow(ctx, "k"); !d.Allowed {
			t.Fatalf("event %d denied", i+1)
		}
	}
	for range 3 { // peeking takes nothing
		if d := x.Peek("k"); d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("Peek after the burst = %+v, want denied with a RetryAfter", d)
		}
	}
	now = now.Add(4 * time.Second) // 18 per minute: one every 3.3 s
	if d := x.Peek("k"); !d.Allowed {
		t.Errorf("Peek after a refill = %+v, want allowed", d)
	}
	if d := NewLocal(Limit{}, 0).Peek("k"); !d.Allowed {
		t.Error("a disabled limit's Peek denied")
	}
}

func TestDisabledAllowsAll(t *testing.T) {
	x := NewLocal(Limit{}, 0)
	for range 1000 {
		if d, _ := x.Allow(context.Background(), "k"); !d.Allowed {
			t.Fatal("a disabled limit denied an event")
		}
	}
}

func maxInWindow(ts []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}
