package mapping

import (
	"strconv"
	"strings"

	"github.com/vendre-extend/gateway/erp"
)

// locale is how one LOCALE writes money, and which language names its
// countries.
type locale struct {
	name     string // canonical spelling, e.g. "sv-SE"
	group    string // thousands separator (a plain ASCII space, not U+00A0)
	decimal  string // decimal separator
	prefix   bool   // the symbol goes before the number ("£1.00"), else after ("1,00 kr")
	own      string // the locale's own currency
	symbol   string // the own currency's local symbol
	language string // the x/text/language/display tag for country names
}

// locales are the supported values of LOCALE. The separators and symbol
// positions follow CLDR, except that every space is a plain ASCII space (see
// the package comment).
//
// nb-NO names countries with the tag "no": x/text/language/display has no
// "nb" tables and would fall back to Danish ("Østrig" for Austria, not
// "Østerrike").
var locales = []locale{
	{name: "sv-SE", group: " ", decimal: ",", own: "SEK", symbol: "kr", language: "sv"},
	{name: "nb-NO", group: " ", decimal: ",", own: "NOK", symbol: "kr", language: "no"},
	{name: "da-DK", group: ".", decimal: ",", own: "DKK", symbol: "kr.", language: "da"},
	{name: "fi-FI", group: " ", decimal: ",", own: "EUR", symbol: "€", language: "fi"},
	{name: "de-DE", group: ".", decimal: ",", own: "EUR", symbol: "€", language: "de"},
	{name: "en-GB", group: ",", decimal: ".", prefix: true, own: "GBP", symbol: "£", language: "en-GB"},
	{name: "en-US", group: ",", decimal: ".", prefix: true, own: "USD", symbol: "$", language: "en-US"},
}

// currencies are the supported values of CURRENCY, with the symbol used in
// a locale whose own currency they are not. The kronor are shown by their
// ISO code there: "kr" alone would not tell SEK from NOK or DKK.
var currencies = map[string]string{
	"SEK": "SEK",
	"NOK": "NOK",
	"DKK": "DKK",
	"EUR": "€",
	"USD": "$",
	"GBP": "£",
}

// findLocale looks name up case-insensitively, accepting "_" for "-"
// ("sv_SE" as POSIX writes it).
func findLocale(name string) (locale, bool) {
	name = strings.ReplaceAll(strings.TrimSpace(name), "_", "-")
	for _, l := range locales {
		if strings.EqualFold(l.name, name) {
			return l, true
		}
	}
	return locale{}, false
}

// supportedLocales lists the locale names, for error messages.
func supportedLocales() string {
	names := make([]string, len(locales))
	for i, l := range locales {
		names[i] = l.name
	}
	return strings.Join(names, ", ")
}

// Money formats a as a display string for the configured LOCALE: thousands
// grouped, always two decimals, a leading hyphen-minus for a negative amount
// (signs are shown as the ERP gives them), and the currency's symbol where
// the locale puts it: "1 234,50 kr" (sv-SE, SEK), "1 234,50 €" (sv-SE, EUR),
// "£1,234.50" (en-GB), "-$1,234.50" (en-US), "1.234,50 €" (de-DE).
//
// currency is the record's ISO 4217 code; "" means the configured CURRENCY.
// A code outside the supported set is shown as the code itself ("1 234,50
// CHF") when it is three letters; anything else falls back to CURRENCY.
func (m *Mapper) Money(a erp.Amount, currency string) string {
	sym := m.symbol(currency)
	l := &m.locale

	v := int64(a)
	u := uint64(v) // #nosec G115 -- two's complement on purpose: negated below for the magnitude
	if v < 0 {
		u = -u // the magnitude, also for math.MinInt64
	}
	units, cents := u/100, u%100

	var buf [64]byte
	b := buf[:0]
	if v < 0 {
		b = append(b, '-')
	}
	if l.prefix {
		b = append(b, sym...)
		if last := sym[len(sym)-1]; 'A' <= last && last <= 'Z' {
			b = append(b, ' ') // "SEK 1,234.50", but "£1,234.50"
		}
	}
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], units, 10)
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b = append(b, l.group...)
		}
		b = append(b, c)
	}
	b = append(b, l.decimal...)
	b = append(b, byte('0'+cents/10), byte('0'+cents%10))
	if !l.prefix {
		b = append(b, ' ')
		b = append(b, sym...)
	}
	return string(b)
}

// symbol is how the configured locale writes currency: its own symbol for
// its own currency, the table's symbol for a supported one, the upper-cased
// code for any other three-letter code, and the configured currency's
// symbol for "" or garbage.
func (m *Mapper) symbol(currency string) string {
	code := strings.ToUpper(strings.TrimSpace(currency))
	if !isAlpha3(code) {
		code = m.currency
	}
	if code == m.locale.own {
		return m.locale.symbol
	}
	if s, ok := currencies[code]; ok {
		return s
	}
	return code
}

// isAlpha3 reports whether s is three ASCII capital letters.
func isAlpha3(s string) bool { return len(s) == 3 && isLetters(s) }
