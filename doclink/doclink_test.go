package doclink

import (
	"strings"
	"testing"
	"time"
)

func TestLinkRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := New(DeriveKey("k"), "https://gw.example.test/", nil)
	s.now = func() time.Time { return now }
	link := s.Link("10001", "F-2026-17", now.Add(time.Hour))
	const prefix = "https://gw.example.test/v1/documents/"
	if !strings.HasPrefix(link, prefix) {
		t.Fatalf("Link() = %q, want prefix %q", link, prefix)
	}
	token := strings.TrimPrefix(link, prefix)
	c, inv, err := s.Parse(token)
	if err != nil || c != "10001" || inv != "F-2026-17" {
		t.Fatalf("Parse() = %q, %q, %v; want 10001, F-2026-17, nil", c, inv, err)
	}
}

func TestParseRefuses(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := New(DeriveKey("k"), "http://localhost:8080", nil)
	s.now = func() time.Time { return now }
	other := New(DeriveKey("other"), "http://localhost:8080", nil)
	good := s.Token("10001", "F1", now.Add(time.Minute))
	p, sig, _ := strings.Cut(good, ".")
	forgedPayload := New(nil, "", nil).Token("10002", "F1", now.Add(time.Minute))
	fp, _, _ := strings.Cut(forgedPayload, ".")
	tests := []struct {
		name, token string
	}{
		{"empty", ""},
		{"no dot", p},
		{"expired", s.Token("10001", "F1", now.Add(-time.Second))},
		{"other key", other.Token("10001", "F1", now.Add(time.Minute))},
		{"payload swapped", fp + "." + sig},
		{"signature cut", p + "." + sig[:10]},
		{"not base64", "%%%.%%%"},
		{"too long", strings.Repeat("a", 600) + "." + sig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Parse(tt.token); err != ErrInvalid {
				t.Errorf("Parse(%q) error = %v, want ErrInvalid", tt.token, err)
			}
		})
	}
}

func TestTokenRefusesControlCharacters(t *testing.T) {
	s := New([]byte("k"), "", nil)
	if got := s.Token("10001", "F1\nd1", time.Now()); got != "" {
		t.Errorf("Token with newline = %q, want \"\"", got)
	}
}

func FuzzParse(f *testing.F) {
	s := New([]byte("k"), "", nil)
	f.Add(s.Token("10001", "F1", time.Now().Add(time.Hour)))
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, token string) {
		_, _, _ = s.Parse(token)
	})
}
