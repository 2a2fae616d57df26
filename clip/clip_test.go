package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a longer text", 8, "a longer…"},
		{"åäö", 3, "å…"}, // never half a rune
		{"åäö", 0, "…"},
		{"x", -1, "…"},
	}
	for _, tt := range tests {
		if got := String(tt.s, tt.n); got != tt.want {
			t.Errorf("String(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestJoin(t *testing.T) {
	items := []string{"a", "b", "c", "d"}
	if got := Join(items, "; ", 2); got != "a; b; and 2 more" {
		t.Errorf("Join(4 items, 2) = %q", got)
	}
	if got := Join(items, "; ", 4); got != "a; b; c; d" {
		t.Errorf("Join(4 items, 4) = %q", got)
	}
	if got := Join(nil, "; ", 4); got != "" {
		t.Errorf("Join(nil) = %q", got)
	}
	long := []string{strings.Repeat("x", 10*Message)}
	if got := Join(long, "; ", 1); len(got) > Message+len(ellipsis) {
		t.Errorf("Join of a %d-byte item = %d bytes, want it cut to Message", len(long[0]), len(got))
	}
}

func FuzzString(f *testing.F) {
	f.Add("åäö text", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 1 << 12
		got := String(s, n)
		if len(got) > max(n, 0)+len(ellipsis) {
			t.Fatalf("String(%q, %d) = %d bytes", s, n, len(got))
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("String(%q, %d) = %q: not valid UTF-8", s, n, got)
		}
	})
}
