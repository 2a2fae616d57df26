package cache_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache"
)

// TestMemoryBound writes far more bytes than the bound, from several
// goroutines, and checks that what the store holds stays within it.
func TestMemoryBound(t *testing.T) {
	const maxBytes = 64 << 10
	m := cache.NewMemory(maxBytes)
	ctx := t.Context()
	val := make([]byte, 2048)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var peak int64
	for w := range 4 {
		wg.Go(func() {
			for i := range 1000 { // 4 x 1000 x ~2 KB = ~8 MB
				k := "w" + strconv.Itoa(w) + ":" + strconv.Itoa(i)
				if err := m.Set(ctx, k, val, time.Minute); err != nil {
					t.Errorf("Set(%q) = %v", k, err)
					return
				}
				size := m.Size()
				mu.Lock()
				peak = max(peak, size)
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	// held is the bytes of the entries that can still be read.
	held := func() int64 {
		var n int64
		for w := range 4 {
			for i := range 1000 {
				k := "w" + strconv.Itoa(w) + ":" + strconv.Itoa(i)
				if v, ok, _ := m.Get(ctx, k); ok {
					n += int64(len(k) + len(v))
				}
			}
		}
		return n
	}
	// Evictions run just after the writes, in the background: give the
	// last ones a moment.
	got := held()
	for deadline := time.Now().Add(2 * time.Second); got > maxBytes && time.Now().Before(deadline); got = held() {
		time.Sleep(5 * time.Millisecond)
	}
	if got > maxBytes || got < maxBytes/2 {
		t.Errorf("entries still readable hold %d bytes after writing ~8 MB, want between %d and %d", got, maxBytes/2, maxBytes)
	}
	if size := m.Size(); size > maxBytes {
		t.Errorf("Size() = %d, want <= %d", size, maxBytes)
	}
	// While writing, the store may hold a few more entries than the
	// bound; never many.
	if limit := int64(maxBytes + 16*len(val)); peak > limit {
		t.Errorf("peak Size() = %d while writing, want <= %d", peak, limit)
	}
	t.Logf("peak %d bytes, final %d, %d entries", peak, m.Size(), m.Len())
}

func TestMemoryTooLarge(t *testing.T) {
	m := cache.NewMemory(1000)
	ctx := t.Context()
	mustSet(t, ctx, m, "k", "small", time.Minute)
	mustSet(t, ctx, m, "k", strings.Repeat("x", 1000), time.Minute) // 1001 bytes with the key
	wantMiss(t, ctx, m, "k")                                        // not the stale "small"
	mustSet(t, ctx, m, "k", strings.Repeat("x", 999), time.Minute)  // exactly the bound
	wantHit(t, ctx, m, "k", strings.Repeat("x", 999))
}

func TestMemoryDefaultBound(t *testing.T) {
	for _, maxBytes := range []int64{0, -1} {
		m := cache.NewMemory(maxBytes)
		mustSet(t, t.Context(), m, "k", "v", time.Minute)
		wantHit(t, t.Context(), m, "k", "v")
	}
}

func TestMemoryGetDoesNotAllocate(t *testing.T) {
	m := cache.NewMemory(1 << 20)
	ctx := t.Context()
	key := keys.Order("10001", "1")
	mustSet(t, ctx, m, key, strings.Repeat("x", 2048), time.Minute)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok, _ := m.Get(ctx, key); !ok {
			t.Fatal("Get missed")
		}
	})
	if allocs != 0 {
		t.Errorf("Get allocates %v times per hit, want 0", allocs)
	}
}

// TestMemoryValueIsFull checks that a value from Get has no spare
// capacity, so that a caller's append copies it instead of writing into the
// array that other readers share.
func TestMemoryValueIsFull(t *testing.T) {
	m := cache.NewMemory(1 << 20)
	ctx := t.Context()
	buf := make([]byte, 3, 64)
	copy(buf, "abc")
	if err := m.Set(ctx, "a", buf, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := m.Get(ctx, "a"); cap(v) != len(v) {
		t.Errorf("Get(%q): cap = %d, want len %d", "a", cap(v), len(v))
	}
}
