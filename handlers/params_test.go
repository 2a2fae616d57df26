package handlers

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParseList: no query string makes the parameter parsing panic, and
// what it accepts is always within the contract's ranges.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"customer_no=10001",
		"customer_no=10001&from=2025-01-01&to=2025-12-31&page=2&per_page=100",
		"customer_no=a&customer_no=b",
		"customer_no=%00&page=-1",
		"from=9999-99-99&per_page=1e9",
		"customer_no=x&page=999999999999",
	} {
		f.Add(s)
	}
	v := newValidator()
	today := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		customer, lq, err := parseList(v, q, today)
		if err != nil {
			var pe *paramError
			if !errors.As(err, &pe) || pe.Param == "" {
				t.Fatalf("parseList(%q) error %v is not a named parameter error", raw, err)
			}
			return
		}
		if !matchChars(customer, 32, false) || lq.Page < 1 || lq.PerPage < 1 || lq.PerPage > 100 || lq.From > lq.To {
			t.Fatalf("parseList(%q) accepted %q %+v", raw, customer, lq)
		}
		if _, err := parseDetail(v, q, q.Get("id")); err != nil {
			var pe *paramError
			if !errors.As(err, &pe) {
				t.Fatalf("parseDetail(%q) error %v is not a parameter error", raw, err)
			}
		}
	})
}

func TestDefaultDates(t *testing.T) {
	v := newValidator()
	today := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		query, from, to string
	}{
		{"customer_no=1", "2025-11-29", "2026-11-29"},
		{"customer_no=1&to=2026-03-01", "2025-03-01", "2026-03-01"},
		{"customer_no=1&from=2026-01-01", "2026-01-01", "2026-11-29"},
		{"customer_no=1&from=2020-01-01&to=2020-01-01", "2020-01-01", "2020-01-01"},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		_, got, err := parseList(v, q, today)
		if err != nil || got.From != tt.from || got.To != tt.to {
			t.Errorf("parseList(%q) = %s..%s, %v; want %s..%s", tt.query, got.From, got.To, err, tt.from, tt.to)
		}
	}
}

// FuzzReadShape: no request shape (query, body, content type, headers)
// makes Shape's parsing panic; what it accepts has each parameter once,
// under its own name, and the key apart; what it refuses is a named
// parameter error, a 413 or a 415.
func FuzzReadShape(f *testing.F) {
	for _, s := range []struct{ method, ct, query, body, auth string }{
		{"GET", "", "customer_no=10001", "", ""},
		{"POST", "application/x-www-form-urlencoded", "", "customer_no=10001&api_key=k&page=2", ""},
		{"POST", "application/json", "", `{"customer_no":"00042","page":2,"api_key":"k"}`, ""},
		{"POST", "application/json; charset=utf-8", "from=2026-01-01", `{"kundnr":"1","till":"2026-02-01"}`, "Bearer k"},
		{"POST", "application/json", "", `{"customer_no":"1","customer_no":"2"}`, ""},
		{"POST", "application/json", "", `{"products":["A"],"x":{"y":[1,2]}}`, ""},
		{"POST", "text/plain", "", "api_key=k", ""},
		{"POST", "application/x-www-form-urlencoded", "customer_no=1", "customer_no=1&customer_no=2", "Bearer  "},
		{"GET", "", "api_key=k&offset=25&limit=25", "", "bearer k"},
	} {
		f.Add(s.method, s.ct, s.query, s.body, s.auth)
	}
	cfg := ShapeConfig{KeyHeader: "X-Vendre-Token", Aliases: map[string]string{"kundnr": "customer_no", "till": "to"}}
	f.Fuzz(func(t *testing.T, method, ct, query, body, auth string) {
		if method != "POST" {
			method = "GET"
		}
		r := httptest.NewRequest(method, "/v1/orders", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Authorization", auth)
		s, err := readShape(r, cfg)
		if err != nil {
			var pe *paramError
			var me *mediaTypeError
			if !(errors.As(err, &pe) && pe.Param != "") && !errors.As(err, &me) && !errors.Is(err, errBodyTooLarge) {
				t.Fatalf("readShape(%q %q %q) error %v is not a named parameter error, 413 or 415", ct, query, body, err)
			}
			return
		}
		for name, vs := range s.params {
			if !slices.Contains(ParamNames, name) || name == paramKey || len(vs) != 1 {
				t.Fatalf("readShape(%q %q %q) params %v: %s", ct, query, body, s.params, name)
			}
		}
		// Whatever it accepts, the list parser refuses or bounds.
		if _, lq, err := parseList(newValidator(), s.params, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)); err == nil &&
			(lq.Page < 1 || lq.PerPage < 1 || lq.PerPage > 100) {
			t.Fatalf("parseList accepted %+v", lq)
		}
	})
}

// FuzzParseBody: no body of either type makes parseBody panic; a JSON
// body it accepts is valid JSON, an object whose values are all strings
// or numbers; a form body it accepts is valid form encoding.
func FuzzParseBody(f *testing.F) {
	for _, b := range []string{`{"a":"b","n":1.5e3}`, `{"a":{"b":1}}`, `{}`, `{"a":"b"}x`, "a=b&c=%zz", `{"a":null}`, "\xff"} {
		f.Add("application/json", b)
		f.Add("application/x-www-form-urlencoded", b)
	}
	f.Fuzz(func(t *testing.T, ct, body string) {
		v, err := parseBody(ct, []byte(body))
		if err != nil {
			return
		}
		switch mt, _, _ := mime.ParseMediaType(ct); mt {
		case "application/json":
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatalf("parseBody accepted %q, which is not a JSON object: %v", body, err)
			}
			for name, x := range m {
				switch x.(type) {
				case string, float64:
				default:
					t.Fatalf("parseBody accepted %q with %s = %v", body, name, x)
				}
				if len(v[name]) == 0 {
					t.Fatalf("parseBody(%q) lost %s", body, name)
				}
			}
		case "application/x-www-form-urlencoded":
			if _, err := url.ParseQuery(body); err != nil {
				t.Fatalf("parseBody accepted %q: %v", body, err)
			}
		default:
			t.Fatalf("parseBody accepted content type %q", ct)
		}
	})
}
