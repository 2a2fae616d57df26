package work

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/clip"
	"github.com/vendre-extend/gateway/pushers"
)

func newQueue(t *testing.T, cfg Config) (*Queue, context.Context) {
	t.Helper()
	rdb, prefix := cachetest.Redis(t)
	cfg.Prefix = prefix
	return New(rdb, "q", cfg), context.Background()
}

// TestAddDedupe: an id is added once; adding it again while it is queued,
// and after it was acknowledged within the retention, changes nothing.
func TestAddDedupe(t *testing.T) {
	q, ctx := newQueue(t, Config{Retention: time.Hour})
	if ok, err := q.Add(ctx, "a", time.Time{}, "payload", "1"); err != nil || !ok {
		t.Fatalf("first Add = %v, %v; want true", ok, err)
	}
	if ok, _ := q.Add(ctx, "a", time.Time{}, "payload", "2"); ok {
		t.Fatal("second Add of a queued id = true")
	}
	c, err := q.Claim(ctx)
	if err != nil || c == nil || c.ID != "a" || c.Fields["payload"] != "1" {
		t.Fatalf("Claim = %+v, %v; want a with payload 1", c, err)
	}
	if ok, err := c.Ack(ctx, "result", "x"); err != nil || !ok {
		t.Fatalf("Ack = %v, %v", ok, err)
	}
	if ok, _ := q.Add(ctx, "a", time.Time{}, "payload", "3"); ok {
		t.Fatal("Add of an acknowledged id within the retention = true")
	}
	if c, _ := q.Claim(ctx); c != nil {
		t.Fatalf("Claim after Ack = %s, want none", c.ID)
	}
	if ttl := q.rdb.PTTL(ctx, q.ItemKey("a")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("acknowledged item's TTL = %v, want within the retention", ttl)
	}
	if acked, dups, err := q.Counts(ctx); err != nil || acked != 1 || dups != 2 {
		t.Errorf("Counts = %d acked, %d duplicates, %v; want 1, 2", acked, dups, err)
	}
}

// TestDueTime: an item is not claimed before it is due.
func TestDueTime(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	q, ctx := newQueue(t, Config{Now: clock})
	q.Add(ctx, "later", now.Add(time.Minute))
	if c, _ := q.Claim(ctx); c != nil {
		t.Fatal("claimed an item a minute before it is due")
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if c, _ := q.Claim(ctx); c == nil || c.ID != "later" {
		t.Fatalf("Claim when due = %v, want later", c)
	}
}

// TestFencing: a worker whose claim lapsed (it paused, or died) gets no
// write through; the worker that reclaimed the item holds a larger token.
func TestFencing(t *testing.T) {
	q, ctx := newQueue(t, Config{Visibility: 50 * time.Millisecond, Retention: time.Hour})
	q.Add(ctx, "a", time.Time{})
	first, _ := q.Claim(ctx)
	if again, _ := q.Claim(ctx); again != nil {
		t.Fatal("a held item was claimed twice")
	}
	time.Sleep(80 * time.Millisecond) // the first holder pauses past the visibility
	second, _ := q.Claim(ctx)
	if second == nil || tokenOf(t, second) <= tokenOf(t, first) {
		t.Fatalf("reclaim = %+v, want a larger token than %s", second, first.Token)
	}
	if ok, err := first.Ack(ctx, "by", "first"); err != nil || ok {
		t.Fatalf("stale Ack = %v, %v; want refused", ok, err)
	}
	if err := first.Park(ctx, "stale"); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.dead.Len(ctx); n != 0 {
		t.Errorf("a stale Park left %d dead letters", n)
	}
	if ok, _ := second.Ack(ctx, "by", "second"); !ok {
		t.Fatal("the holder's Ack was refused")
	}
	if by := q.rdb.HGet(ctx, q.ItemKey("a"), "by").Val(); by != "second" {
		t.Errorf("by = %q, want second", by)
	}
}

func tokenOf(t *testing.T, c *Claim) int {
	t.Helper()
	n, err := strconv.Atoi(c.Token)
	if err != nil {
		t.Fatalf("token %q: %v", c.Token, err)
	}
	return n
}

// TestRetryParkReplay: failures back off, the MaxTries-th parks the item
// as one dead letter with a bounded reason, and Replay puts it back with
// its tries reset and Reopen applied.
func TestRetryParkReplay(t *testing.T) {
	q, ctx := newQueue(t, Config{MaxTries: 3, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond,
		Reopen: &Reopen{Field: "state", From: []string{"manual"}, Set: []any{"state", "pending"}}})
	q.Add(ctx, "a", time.Time{}, "state", "manual")
	for i := 1; i <= 3; i++ {
		var c *Claim
		for deadline := time.Now().Add(time.Second); c == nil && time.Now().Before(deadline); {
			c, _ = q.Claim(ctx)
		}
		if c == nil {
			t.Fatalf("try %d: not claimed again after its backoff", i)
		}
		if c.Tries() != i-1 {
			t.Errorf("try %d: Tries = %d, want %d", i, c.Tries(), i-1)
		}
		if err := c.Retry(ctx, errors.New(strings.Repeat("boom ", 1000))); err != nil {
			t.Fatal(err)
		}
	}
	st, err := q.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Backlog != 0 || st.DeadLetters != 1 || len(st.Recent) != 1 || st.Recent[0].ID != "a" {
		t.Fatalf("Status after parking = %+v, want no backlog and one dead letter a", st)
	}
	if n := len(st.Recent[0].Reason); n > clip.Message+8 {
		t.Errorf("dead letter reason is %d bytes; want it bounded", n)
	}
	if st.LastError == "" {
		t.Error("Status has no last error")
	}
	n, err := q.Replay(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v; want 1", n, err)
	}
	c, _ := q.Claim(ctx)
	if c == nil || c.Tries() != 0 || c.Fields["state"] != "pending" || c.Fields["parked"] != "0" {
		t.Fatalf("after Replay Claim = %+v, want a with tries 0, state pending", c)
	}
	if n, _ := q.dead.Len(ctx); n != 0 {
		t.Errorf("%d dead letters after Replay, want 0", n)
	}
}

// TestCoalesce: on a Coalesce queue, an item added again while it is
// being worked is due again once acknowledged; one acknowledged is
// forgotten (Retention 0) and can be added again.
func TestCoalesce(t *testing.T) {
	q, ctx := newQueue(t, Config{Coalesce: true})
	q.Add(ctx, "p", time.Time{})
	c, _ := q.Claim(ctx)
	if ok, _ := q.Add(ctx, "p", time.Time{}); ok {
		t.Fatal("Add of a claimed item = true")
	}
	c.Ack(ctx)
	c2, _ := q.Claim(ctx)
	if c2 == nil || c2.ID != "p" {
		t.Fatal("an item marked while worked was not due again after Ack")
	}
	c2.Ack(ctx)
	if n := q.rdb.Exists(ctx, q.ItemKey("p")).Val(); n != 0 {
		t.Error("an acknowledged item of a Retention-0 queue is still there")
	}
	if ok, _ := q.Add(ctx, "p", time.Time{}); !ok {
		t.Error("Add after the item was forgotten = false")
	}
}

// TestLater: Later counts no try.
func TestLater(t *testing.T) {
	q, ctx := newQueue(t, Config{RetryBase: time.Millisecond})
	q.Add(ctx, "a", time.Time{})
	c, _ := q.Claim(ctx)
	c.Later(ctx, time.Millisecond, errors.New("budget spent"))
	time.Sleep(5 * time.Millisecond)
	c, _ = q.Claim(ctx)
	if c == nil || c.Tries() != 0 || c.Fields["last_error"] != "budget spent" {
		t.Fatalf("after Later Claim = %+v, want tries 0 and the cause", c)
	}
}

// TestAddFenced: a poller that lost its lease adds nothing.
func TestAddFenced(t *testing.T) {
	q, ctx := newQueue(t, Config{})
	l := q.Lease("poller", time.Minute)
	tok, err := l.Acquire(ctx, 0)
	if err != nil || tok == 0 {
		t.Fatalf("Acquire = %d, %v", tok, err)
	}
	if ok, err := q.AddFenced(ctx, l, tok, "a", time.Time{}); err != nil || !ok {
		t.Fatalf("AddFenced under the lease = %v, %v", ok, err)
	}
	if _, err := q.AddFenced(ctx, l, tok+1, "b", time.Time{}); !errors.Is(err, ErrFenced) {
		t.Fatalf("AddFenced with a stale token err = %v, want ErrFenced", err)
	}
}

// TestKeysOneSlot: every key of a queue carries the queue's hash tag, so
// each script's keys hash to one slot of a Redis Cluster.
func TestKeysOneSlot(t *testing.T) {
	q := New(nil, "orders", Config{Prefix: "gwq:"})
	for _, k := range []string{q.ItemKey("V-1"), q.DueKey(), q.fenceKey(), q.dead.Key(), q.Key("lease:x"), q.Key("status")} {
		if !strings.HasPrefix(k, "gwq:{orders}:") {
			t.Errorf("key %q lacks the hash tag {orders}", k)
		}
	}
}

// TestWorkCrash: items a worker held when it died (its context ended
// mid-item) are finished by another worker after the visibility, each
// acknowledged once.
func TestWorkCrash(t *testing.T) {
	q, ctx := newQueue(t, Config{Visibility: 200 * time.Millisecond, Poll: 10 * time.Millisecond, Retention: time.Hour})
	const n = 20
	for i := range n {
		q.Add(ctx, string(rune('a'+i)), time.Time{})
	}
	// The first worker claims items and dies without ending the claims.
	dead, kill := context.WithCancel(ctx)
	var took atomic.Int64
	go q.Work(dead, 2, func(ctx context.Context, c *Claim) error {
		if took.Add(1) >= 2 {
			kill()
		}
		<-ctx.Done()
		return nil
	})
	for took.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	var mu sync.Mutex
	acked := map[string]int{}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go q.Work(wctx, 2, func(ctx context.Context, c *Claim) error {
		ok, err := c.Ack(ctx)
		if ok {
			mu.Lock()
			acked[c.ID]++
			mu.Unlock()
		}
		return err
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := len(acked)
		mu.Unlock()
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d items acknowledged", done, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for id, k := range acked {
		if k != 1 {
			t.Errorf("item %s acknowledged %d times", id, k)
		}
	}
	st, _ := q.Status(ctx)
	if st.Backlog != 0 || st.State != pushers.StateIdle {
		t.Errorf("Status = %+v, want idle with no backlog", st)
	}
}

// TestReplayLegacyLetters: dead letters the order and stock pushers wrote
// before this queue ({"ext":…}, {"products":[…]}) are replayed too.
func TestReplayLegacyLetters(t *testing.T) {
	q, ctx := newQueue(t, Config{})
	for _, id := range []string{"V-1", "P-1", "P-2"} {
		q.Add(ctx, id, time.Time{})
		c, _ := q.Claim(ctx)
		c.Park(ctx, "old")
	}
	q.rdb.Del(ctx, q.dead.Key())
	q.dead.Add(ctx, pushers.DeadLetter{ID: "V-1", At: time.Now(), Reason: "old", Data: []byte(`{"ext":"V-1"}`)})
	q.dead.Add(ctx, pushers.DeadLetter{ID: "batch", At: time.Now(), Reason: "old", Data: []byte(`{"sink":"x","products":["P-1","P-2"]}`)})
	if n, err := q.Replay(ctx); err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v; want 2", n, err)
	}
	if n := q.rdb.ZCard(ctx, q.DueKey()).Val(); n != 3 {
		t.Errorf("%d items queued after Replay, want 3", n)
	}
}

// TestBatch: marks coalesce; up to n items are claimed together under
// the lease; a mark made while its batch is in flight makes the product
// due again after the Ack; a stale lease claims nothing; Release takes
// back the claims of a holder that is gone.
func TestBatch(t *testing.T) {
	q, ctx := newQueue(t, Config{Coalesce: true})
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = "P-" + strconv.Itoa(i)
	}
	if err := q.AddAll(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if err := q.AddAll(ctx, ids[:10]); err != nil { // marked twice: one item each
		t.Fatal(err)
	}
	l := q.Lease("push", time.Minute)
	tok, _ := l.Acquire(ctx, 0)
	if _, err := q.ClaimBatch(ctx, 250, l, tok+1); !errors.Is(err, ErrFenced) {
		t.Fatalf("ClaimBatch with a stale token err = %v, want ErrFenced", err)
	}
	first, err := q.ClaimBatch(ctx, 250, l, tok)
	if err != nil || first == nil || len(first.IDs) != 250 {
		t.Fatalf("first ClaimBatch = %+v, %v; want 250 items", first, err)
	}
	second, _ := q.ClaimBatch(ctx, 250, l, tok)
	if second == nil || len(second.IDs) != 50 {
		t.Fatalf("second ClaimBatch = %+v; want the 50 left", second)
	}
	if b, _ := q.ClaimBatch(ctx, 250, l, tok); b != nil {
		t.Fatalf("third ClaimBatch = %d items, want none", len(b.IDs))
	}
	q.AddAll(ctx, []string{first.IDs[0]}) // changed again while in flight
	if err := first.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if n := q.rdb.ZCard(ctx, q.DueKey()).Val(); n != 51 {
		t.Errorf("%d queued after the first Ack, want 51 (the second batch and the one marked again)", n)
	}
	if n, err := q.Release(ctx); err != nil || n != 50 {
		t.Errorf("Release = %d, %v; want the second batch's 50", n, err)
	}
	again, _ := q.ClaimBatch(ctx, 250, l, tok)
	if again == nil || len(again.IDs) != 51 {
		t.Fatalf("ClaimBatch after Release = %+v, want 51", again)
	}
	again.Ack(ctx)
	second.Ack(ctx) // stale token: changes nothing
	if acked, _, _ := q.Counts(ctx); acked != 300 {
		t.Errorf("acked = %d, want 300 (249 + 51)", acked)
	}
	if n := q.rdb.ZCard(ctx, q.DueKey()).Val(); n != 0 {
		t.Errorf("%d still queued", n)
	}
}
