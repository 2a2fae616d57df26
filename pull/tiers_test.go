package pull

import (
	"testing"

	"github.com/vendre-extend/gateway/cache"
)

func TestGenTable(t *testing.T) {
	type want struct {
		all, cust int64
		ok        bool
	}
	tests := []struct {
		name string
		do   func(g *genTable)
		want want // of scope "c"
	}{
		{"empty", func(*genTable) {}, want{0, 0, false}},
		{"learned", func(g *genTable) { g.learn(g.epoch.Load(), "c", 2, 5) }, want{2, 5, true}},
		{"a late read never lowers", func(g *genTable) {
			g.learn(g.epoch.Load(), "c", 2, 5)
			g.learn(g.epoch.Load(), "c", 1, 4)
		}, want{2, 5, true}},
		{"a read from before forget is not kept", func(g *genTable) {
			ep := g.epoch.Load()
			g.forget()
			g.learn(ep, "c", 2, 5)
		}, want{0, 0, false}},
		{"notice in sequence", func(g *genTable) {
			g.learn(g.epoch.Load(), "c", 2, 5)
			g.notice("c", 2, 6, 1)
			g.notice("c", 2, 7, 2)
		}, want{2, 7, true}},
		{"flush-all notice", func(g *genTable) {
			g.learn(g.epoch.Load(), "c", 2, 5)
			g.notice("*", 3, 3, 1)
		}, want{3, 5, true}},
		{"a skipped notice forgets", func(g *genTable) {
			g.learn(g.epoch.Load(), "c", 2, 5)
			g.notice("x", 2, 1, 1)
			g.notice("x", 2, 2, 3)
		}, want{0, 0, false}},
		{"own flush applies at once", func(g *genTable) {
			g.learn(g.epoch.Load(), "c", 2, 5)
			g.apply("c", cache.Bumped{All: 2, Gen: 6, Seq: 9})
		}, want{2, 6, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGenTable()
			tt.do(g)
			all, cust, ok := g.get("c")
			if got := (want{all, cust, ok}); got != tt.want {
				t.Errorf("get(c) = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseNotice(t *testing.T) {
	tests := []struct {
		in            string
		scope         string
		all, gen, seq int64
		ok            bool
	}{
		{"10001 1 2 3", "10001", 1, 2, 3, true},
		{"* 4 4 9", "*", 4, 4, 9, true},
		{"10001 1 2", "", 0, 0, 0, false},
		{"10001 1 x 3", "", 0, 0, 0, false},
	}
	for _, tt := range tests {
		scope, all, gen, seq, ok := parseNotice(tt.in)
		if scope != tt.scope || all != tt.all || gen != tt.gen || seq != tt.seq || ok != tt.ok {
			t.Errorf("parseNotice(%q) = %q %d %d %d %v", tt.in, scope, all, gen, seq, ok)
		}
	}
}
