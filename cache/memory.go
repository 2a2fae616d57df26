package cache

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
)

// DefaultMemoryBytes is the bound [NewMemory] uses when given maxBytes <= 0.
const DefaultMemoryBytes = 64 << 20 // 64 MiB

// clockResolution is how often Memory reads the time: entries may expire
// up to this much early or late.
const clockResolution = 5 * time.Millisecond

// Memory is an in-process [Store] bounded by bytes, for a single replica.
// Entries expire after their own ttl; when the bound is reached, the
// entries least likely to be read again are evicted (W-TinyLFU, from
// github.com/maypok86/otter/v2). Expiry times are kept to about 5 ms. It
// is safe for concurrent use, and a hit does not allocate: Get returns the
// stored slice itself, which callers must not modify.
//
// Its methods never fail; they return errors only to satisfy [Store].
type Memory struct {
	c        *otter.Cache[string, memEntry]
	maxBytes int64
}

// memEntry is what Memory stores: the value, and the ttl it was set with,
// which the expiry calculator reads when the entry is written.
type memEntry struct {
	val []byte
	ttl time.Duration
}

// NewMemory returns a Memory store that holds at most maxBytes of keys and
// values ([DefaultMemoryBytes] when maxBytes <= 0). The count is of the
// bytes of keys and values only, not of the bookkeeping around them (about
// 150 bytes of heap per entry, measured with otter v2.4.0), so leave that
// margin: for 2 KB answers, the heap used is about 1.07 x maxBytes.
func NewMemory(maxBytes int64) *Memory {
	if maxBytes <= 0 {
		maxBytes = DefaultMemoryBytes
	}
	c := otter.Must(&otter.Options[string, memEntry]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(key string, e memEntry) uint32 {
			return weight(key, e.val)
		},
		// Each entry expires ttl after its last write; reads do not
		// extend it.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, memEntry]) time.Duration {
			if e.Value.ttl <= 0 {
				return math.MaxInt64 // never; otter saturates the deadline
			}
			return e.Value.ttl
		}),
		// Every read and write needs the time, and time.Now costs about
		// as much as the rest of a hit (60 ns on a kvm-clock VM). A clock
		// read every 5 ms is plenty for ttls of seconds and minutes.
		Clock: otter.NewCoarseClock(clockResolution),
	})
	return &Memory{c: c, maxBytes: maxBytes}
}

// weight is the bytes an entry counts for: its key and value.
func weight(key string, val []byte) uint32 {
	return uint32(min(int64(len(key))+int64(len(val)), math.MaxUint32))
}

// Get implements [Store.Get]. The returned slice is shared: do not modify it.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	e, ok := m.c.GetIfPresent(key)
	if !ok {
		return nil, false, nil
	}
	return e.val, true, nil
}

// Set implements [Store.Set] with a private copy of val. An entry larger
// than the whole bound is not kept, and any earlier value of key is
// removed.
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	if int64(len(key))+int64(len(val)) > m.maxBytes {
		m.c.Invalidate(key)
		return nil
	}
	// make+copy gives len == cap, so a caller's append to a value it got
	// from Get reallocates instead of writing into the shared array.
	cp := make([]byte, len(val))
	copy(cp, val)
	m.c.Set(key, memEntry{val: cp, ttl: ttl})
	return nil
}

// Delete implements [Store.Delete].
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	for _, k := range keys {
		m.c.Invalidate(k)
	}
	return nil
}

// DeletePrefix implements [Store.DeletePrefix] by walking all keys; the
// count leaves out entries that had already expired.
func (m *Memory) DeletePrefix(_ context.Context, prefix string) (int, error) {
	n := 0
	for k := range m.c.Keys() {
		if strings.HasPrefix(k, prefix) {
			if _, removed := m.c.Invalidate(k); removed {
				n++
			}
		}
	}
	return n, nil
}

// Ping implements [Store.Ping]; a Memory store is always available.
func (m *Memory) Ping(context.Context) error { return nil }

// Size returns about how many bytes of keys and values m holds, for
// metrics. Evictions run in the background just after the writes that call
// for them, so for a moment the store may hold more than its bound: at
// most the writes otter has queued but not yet applied (up to 128 per
// GOMAXPROCS, usually a handful). Size counts them once they are applied.
func (m *Memory) Size() int64 {
	return int64(m.c.WeightedSize()) // #nosec G115 -- a byte count bounded by maxBytes (an int64)
}

// Len returns about how many entries m holds, expired ones not yet removed
// included.
func (m *Memory) Len() int {
	return m.c.EstimatedSize()
}

// Clear removes every entry.
func (m *Memory) Clear() { m.c.InvalidateAll() }
