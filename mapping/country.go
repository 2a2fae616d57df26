package mapping

import (
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// iso3166 lists the alpha-2 codes of every country officially assigned in
// ISO 3166-1 (249 of them). x/text knows more regions (continents, the EU,
// private-use codes such as XK, reserved codes such as AC); only these are
// countries for the contract.
const iso3166 = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ " +
	"EC EE EG EH ER ES ET " +
	"FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU " +
	"ID IE IL IM IN IO IQ IR IS IT " +
	"JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ " +
	"LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ " +
	"OM " +
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY " +
	"QA " +
	"RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU " +
	"WF WS " +
	"YE YT " +
	"ZA ZM ZW"

// country is one country as Vendre shows it.
type country struct {
	name string // in the language of LOCALE
	iso3 string // ISO 3166-1 alpha-3
}

// countryTable names every ISO 3166-1 country in the given display
// language, keyed by both its alpha-2 and its alpha-3 code.
func countryTable(lang string) (map[string]country, error) {
	tag, err := language.Parse(lang)
	if err != nil {
		return nil, err
	}
	namer := display.Regions(tag)
	codes := strings.Fields(iso3166)
	t := make(map[string]country, 2*len(codes))
	for _, code := range codes {
		r, err := language.ParseRegion(code)
		if err != nil {
			return nil, err
		}
		c := country{name: namer.Name(r), iso3: r.ISO3()}
		t[code] = c
		t[c.iso3] = c
	}
	return t, nil
}

// Country maps the ERP's country code to what Vendre shows: the country's
// name in the language of LOCALE and its ISO 3166-1 alpha-3 code, e.g.
// "SE" -> "Sverige", "SWE" under sv-SE.
//
// The code may be alpha-2 or alpha-3, in any case, padded with spaces; a
// deprecated code x/text knows a successor for is mapped to it ("UK" ->
// GB). Empty input gives "", "". Anything that is not an ISO 3166-1 country
// (a typo, "EU", "XK", a number) gives the code as given, without the
// padding, and "": the customer still sees what the ERP holds.
func (m *Mapper) Country(code string) (name, iso3 string) {
	given := strings.TrimSpace(code)
	if given == "" {
		return "", ""
	}
	key := strings.ToUpper(given)
	if c, ok := m.countries[key]; ok {
		return c.name, c.iso3
	}
	if (len(key) == 2 || len(key) == 3) && isLetters(key) {
		if r, err := language.ParseRegion(key); err == nil {
			if c, ok := m.countries[r.Canonicalize().String()]; ok {
				return c.name, c.iso3
			}
		}
	}
	return given, ""
}

// isLetters reports whether s is all ASCII capital letters.
func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
