package mapping

import (
	"strings"
	"testing"
)

func TestCountry(t *testing.T) {
	tests := []struct {
		locale, code string
		name, iso3   string
	}{
		{"sv-SE", "SE", "Sverige", "SWE"},
		{"sv-SE", "se", "Sverige", "SWE"},
		{"sv-SE", "  se\t", "Sverige", "SWE"},
		{"sv-SE", "SWE", "Sverige", "SWE"},
		{"sv-SE", "swe", "Sverige", "SWE"},
		{"sv-SE", "NO", "Norge", "NOR"},
		{"sv-SE", "FI", "Finland", "FIN"},
		{"sv-SE", "DK", "Danmark", "DNK"},
		{"sv-SE", "DE", "Tyskland", "DEU"},
		{"sv-SE", "AX", "Åland", "ALA"},
		{"sv-SE", "UK", "Storbritannien", "GBR"}, // deprecated alias of GB
		{"sv-SE", "", "", ""},
		{"sv-SE", "   ", "", ""},
		{"sv-SE", "XK", "XK", ""},   // Kosovo: user-assigned, not ISO 3166-1
		{"sv-SE", "EU", "EU", ""},   // not a country
		{"sv-SE", "ZZ", "ZZ", ""},   // unknown region
		{"sv-SE", "QQ", "QQ", ""},   // private use
		{"sv-SE", "752", "752", ""}, // numeric codes are not accepted
		{"sv-SE", " Sverige ", "Sverige", ""},
		{"sv-SE", "S", "S", ""},
		{"sv-SE", "ÅÄ", "ÅÄ", ""},
		{"nb-NO", "NO", "Norge", "NOR"},
		{"nb-NO", "SE", "Sverige", "SWE"},
		{"nb-NO", "AT", "Østerrike", "AUT"}, // Norwegian, not Danish "Østrig"
		{"da-DK", "AT", "Østrig", "AUT"},
		{"da-DK", "DK", "Danmark", "DNK"},
		{"fi-FI", "FI", "Suomi", "FIN"},
		{"fi-FI", "se", "Ruotsi", "SWE"},
		{"de-DE", "DE", "Deutschland", "DEU"},
		{"de-DE", "SE", "Schweden", "SWE"},
		{"en-GB", "GB", "United Kingdom", "GBR"},
		{"en-GB", "ie", "Ireland", "IRL"},
		{"en-US", "US", "United States", "USA"},
		{"en-US", "SE", "Sweden", "SWE"},
	}
	for _, tt := range tests {
		t.Run(tt.locale+"/"+tt.code, func(t *testing.T) {
			m := newMapper(t, tt.locale, "EUR", goldenNow)
			name, iso3 := m.Country(tt.code)
			if name != tt.name || iso3 != tt.iso3 {
				t.Errorf("Country(%q) under %s = %q, %q, want %q, %q", tt.code, tt.locale, name, iso3, tt.name, tt.iso3)
			}
		})
	}
}

// TestCountryAll checks every ISO 3166-1 country in every supported
// locale: a real name, an alpha-3 code of its own, and the same answer for
// the alpha-2 code in lower case and for the alpha-3 code.
func TestCountryAll(t *testing.T) {
	codes := strings.Fields(iso3166)
	if len(codes) != 249 {
		t.Fatalf("iso3166 has %d codes, want 249", len(codes))
	}
	for _, l := range locales {
		t.Run(l.name, func(t *testing.T) {
			m := newMapper(t, l.name, l.own, goldenNow)
			seen := make(map[string]string)
			for _, code := range codes {
				name, iso3 := m.Country(code)
				if name == "" || name == code || !isAlpha3(iso3) || iso3 == "ZZZ" {
					t.Errorf("Country(%q) = %q, %q, want a name and an alpha-3 code", code, name, iso3)
					continue
				}
				if other, ok := seen[iso3]; ok {
					t.Errorf("Country(%q) and Country(%q) both give %q", code, other, iso3)
				}
				seen[iso3] = code
				if n, i := m.Country(strings.ToLower(code)); n != name || i != iso3 {
					t.Errorf("Country(%q) = %q, %q, want %q, %q", strings.ToLower(code), n, i, name, iso3)
				}
				if n, i := m.Country(iso3); n != name || i != iso3 {
					t.Errorf("Country(%q) = %q, %q, want %q, %q", iso3, n, i, name, iso3)
				}
			}
		})
	}
}

func TestCountryAlpha3(t *testing.T) {
	want := map[string]string{
		"SE": "SWE", "NO": "NOR", "FI": "FIN", "DK": "DNK", "IS": "ISL",
		"DE": "DEU", "GB": "GBR", "US": "USA", "IE": "IRL", "NL": "NLD",
		"FR": "FRA", "ES": "ESP", "CH": "CHE", "AT": "AUT", "PL": "POL",
		"EE": "EST", "LV": "LVA", "LT": "LTU", "AX": "ALA", "FO": "FRO",
		"GL": "GRL", "SJ": "SJM", "CN": "CHN", "JP": "JPN", "SS": "SSD",
		"BQ": "BES", "CW": "CUW", "SX": "SXM", "RS": "SRB", "ME": "MNE",
	}
	m := newMapper(t, "en-GB", "GBP", goldenNow)
	for code, iso3 := range want {
		t.Run(code, func(t *testing.T) {
			if _, got := m.Country(code); got != iso3 {
				t.Errorf("Country(%q) iso3 = %q, want %q", code, got, iso3)
			}
		})
	}
}

func BenchmarkCountry(b *testing.B) {
	m := newMapper(b, "sv-SE", "SEK", goldenNow)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = m.Country(" no ")
	}
}
