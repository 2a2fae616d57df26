package pushers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache/cachetest"
)

func TestLeaseFencing(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ctx := context.Background()
	l := NewLease(rdb, prefix+"{lease}", 80*time.Millisecond) // the tag: the lease and its fence in one slot
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

// TestDeadLetterRetention: a dead letter older than the retention is
// dropped; newer ones stay, newest first.
func TestDeadLetterRetention(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ctx := context.Background()
	d := NewDeadLetters(rdb, prefix+"dead", 0) // the default retention, 30 days
	now := time.Now().UTC()
	for _, age := range []time.Duration{90 * 24 * time.Hour, 31 * 24 * time.Hour, 29 * 24 * time.Hour} {
		if err := d.Add(ctx, DeadLetter{ID: age.String(), At: now.Add(-age), Reason: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Add(ctx, DeadLetter{ID: "now", At: now, Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	got, err := d.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, dl := range got {
		ids = append(ids, dl.ID)
	}
	if want := []string{"now", (29 * 24 * time.Hour).String()}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("dead letters after a 30-day retention = %v, want %v", ids, want)
	}
}

func TestRenameLegacyKeys(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	if cachetest.Cluster(rdb) {
		t.Skip("an earlier release never wrote untagged keys to a cluster")
	}
	ctx := context.Background()
	rdb.ZAdd(ctx, prefix+"stock:dirty", redis.Z{Score: 1, Member: "SKU-1"})
	rdb.Set(ctx, prefix+"stock:fileseq", 41, 0)
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "wh:stream", Values: []string{"n", "x"}})
	rdb.Set(ctx, prefix+"orders:lease:xsale", 7, time.Minute)
	rdb.HSet(ctx, prefix+"orders:o:X-1", "state", "due")
	rdb.Set(ctx, prefix+"retailcrm:module:registered", "fp", 0)
	rdb.Set(ctx, prefix+"{orders}:o:X-2", "new", 0)
	rdb.Set(ctx, prefix+"orders:o:X-2", "old", 0) // written by an old replica after the upgrade

	moved, kept, err := RenameLegacyKeys(ctx, rdb, prefix)
	if err != nil || moved != 6 || len(kept) != 1 || kept[0] != prefix+"orders:o:X-2" {
		t.Fatalf("RenameLegacyKeys = %d, %q, %v; want 6, [orders:o:X-2], nil", moved, kept, err)
	}
	if n := rdb.ZCard(ctx, prefix+"{stock}:dirty").Val(); n != 1 {
		t.Errorf("{stock}:dirty has %d members, want 1", n)
	}
	if v := rdb.Get(ctx, prefix+"{stock}:fileseq").Val(); v != "41" {
		t.Errorf("{stock}:fileseq = %q, want 41 (file numbers go on)", v)
	}
	if n := rdb.XLen(ctx, prefix+"{wh}:stream").Val(); n != 1 {
		t.Errorf("{wh}:stream has %d entries, want 1", n)
	}
	if ttl := rdb.PTTL(ctx, prefix+"{orders}:lease:xsale").Val(); ttl <= 0 {
		t.Errorf("the moved lease's TTL = %v, want it kept", ttl)
	}
	if v := rdb.HGet(ctx, prefix+"{orders}:o:X-1", "state").Val(); v != "due" {
		t.Errorf("{orders}:o:X-1 state = %q, want due", v)
	}
	if v := rdb.Get(ctx, prefix+"{orders}:o:X-2").Val(); v != "new" {
		t.Errorf("{orders}:o:X-2 = %q, want the newer key untouched", v)
	}
	if moved, kept, _ := RenameLegacyKeys(ctx, rdb, prefix); moved != 0 || len(kept) != 1 {
		t.Errorf("second run = %d, %q; want 0 moved, the one conflict kept", moved, kept)
	}
}
