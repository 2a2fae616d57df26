package cache

import "testing"

// TestGenTableSequences: each sequence (the flush-all one and every
// shard's) is followed on its own, a gap in any one forgets the table, and
// a check keeps the flush-all token of Redis when the table knew none (so
// that a customer's flush can name it).
func TestGenTableSequences(t *testing.T) {
	tab := newGenTable()
	tab.subscribed()
	var seqs [Shards + 1]int64
	if tab.check(tab.version.Load(), 0xa1, &seqs); tab.all.Load() != 0xa1 {
		t.Fatalf("after a check the table knows flush-all %x, want a1", tab.all.Load())
	}
	heard := func(payload string) {
		t.Helper()
		n, ok := parseNotice(payload)
		if !ok {
			t.Fatalf("parseNotice(%q) failed", payload)
		}
		tab.apply(n, true)
	}
	heard("{1}:orders a1 a1 c1 3 1")
	heard("{2}:orders a1 a1 c2 7 1") // another shard's sequence
	heard("{1}:prices a1 a1 c3 3 2")
	heard("* a1 a2 a2 g 1")
	heard("{2}:orders 0 0 c4 7 2") // by a replica that knew no flush-all token
	if g, ok := tab.lastKnown("{2}:orders"); !ok || g != (gens{all: 0xa2, scope: 0xc4}) {
		t.Fatalf("lastKnown({2}:orders) = %x, %v; want {a2 c4}", g, ok)
	}
	if _, ok := tab.lastKnown("{1}:orders"); !ok {
		t.Fatal("no gap, yet the table forgot {1}:orders")
	}
	heard("{1}:orders a2 a2 c5 3 4") // shard 3's number 3 was missed
	if _, ok := tab.lastKnown("{1}:prices"); ok {
		t.Error("a gap in shard 3's sequence left the table as it was")
	}

	tab = newGenTable()
	tab.subscribed()
	seqs = [Shards + 1]int64{}
	if tab.check(tab.version.Load(), 0xa1, &seqs) {
		t.Fatal("the first check forgot the table")
	}
	heard("* a1 a2 a2 g 1")
	seqs[genSeq], seqs[7] = 1, 1 // shard 7 flushed, unheard
	if !tab.check(tab.version.Load(), 0xa2, &seqs) {
		t.Error("check did not see shard 7's sequence move")
	}
}

func TestParseNotice(t *testing.T) {
	for _, p := range []string{
		"{1}:orders a1 a1 c1 3",            // no sequence
		"{1}:orders a1 a1 c1 64 1",         // no such shard
		"{1}:orders a1 a1 c1 -1 1",         // no such shard
		"* 0 0 a2 g 1",                     // a flush-all always knows its token
		"{1}:orders 0 a1 c1 3 1",           // one token known, not the other
		"{1}:orders a1 a1 c1 3 1 trailing", // too many fields
	} {
		if n, ok := parseNotice(p); ok {
			t.Errorf("parseNotice(%q) = %+v, want it refused", p, n)
		}
	}
}
