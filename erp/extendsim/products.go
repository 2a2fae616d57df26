package extendsim

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"

	"github.com/vendre-extend/gateway/erp"
)

// FixedProducts is the size of the merchant's fixed assortment, the
// articles every simulator holds (see Options.Products).
const FixedProducts = 41

// group is one node of the article tree (GET /ProductGroups).
type group struct {
	Code, Name, Parent string
}

// groups is the merchant's article tree: two levels, some articles on a
// top-level group.
var groups = []group{
	{"ARB", "Arbetskläder", ""},
	{"ARB-VAR", "Varselkläder", "ARB"},
	{"ARB-BYX", "Byxor och jackor", "ARB"},
	{"ARB-TRO", "Tröjor och t-shirts", "ARB"},
	{"SKY", "Skyddsutrustning", ""},
	{"SKY-SKO", "Skyddsskor", "SKY"},
	{"SKY-HAN", "Arbetshandskar", "SKY"},
	{"SKY-PSU", "Ögon-, hörsel- och andningsskydd", "SKY"},
	{"VER", "Verktyg", ""},
	{"VER-EL", "Elverktyg", "VER"},
	{"VER-BAT", "Batterier och laddare", "VER"},
	{"VER-HAND", "Handverktyg", "VER"},
	{"VER-TILL", "Tillbehör och förbrukning", "VER"},
	{"FAS", "Fästelement", ""},
	{"KEM", "Kemtekniska produkter", ""},
	{"ELB", "El och belysning", ""},
	{"PER", "Personalartiklar", ""},
	{"PER-LIV", "Livsmedel", "PER"},
	{"PER-LIT", "Litteratur", "PER"},
	{"PRE", "Presentkort", ""},
}

// productInfo is an article's master data beyond the list row, as the
// single GET answers it.
type productInfo struct {
	group  string  // a group Code
	maker  string  // "" is sent as null
	ean    string  // "" is left out
	weight float64 // kg; 0 is sent as null
	desc   string
	// eanNumber sends the EAN as a JSON number, as some ERPs do.
	eanNumber bool
}

// detail is what the fixed assortment knows of each article.
type detail struct {
	group, maker string
	weight       float64
}

var details = map[string]detail{
	"HV-1101": {"ARB-VAR", "Snickers Workwear", 0.62},
	"HV-1102": {"ARB-VAR", "Blåkläder", 1.1},
	"AB-2101": {"ARB-BYX", "Snickers Workwear", 0.74},
	"AB-2102": {"ARB-BYX", "Blåkläder", 0.81},
	"AB-2110": {"ARB-BYX", "Mascot", 0.92},
	"AB-2120": {"ARB-TRO", "Mascot", 0.95},
	"AB-2130": {"ARB-TRO", "Snickers Workwear", 0.55},
	"SK-3101": {"SKY-SKO", "Jalas", 1.3},
	"SK-3102": {"SKY-SKO", "Jalas", 1.9},
	"HA-4101": {"SKY-HAN", "Ejendals", 0.3},
	"HA-4102": {"SKY-HAN", "Ejendals", 0.12},
	"HA-4103": {"SKY-HAN", "Guardio", 0.2},
	"PS-5101": {"SKY-PSU", "3M", 0.05},
	"PS-5102": {"SKY-PSU", "3M", 0.28},
	"PS-5103": {"SKY-PSU", "Guardio", 0.41},
	"PS-5104": {"SKY-PSU", "3M", 0.15},
	"VE-6101": {"VER-EL", "Makita", 2.6},
	"VE-6102": {"VER-EL", "DeWalt", 1.4},
	"VE-6103": {"VER-EL", "Makita", 1.9},
	"VE-6104": {"VER-EL", "Milwaukee", 3.2},
	"VE-6105": {"VER-EL", "DeWalt", 2.2},
	"VE-6106": {"VER-BAT", "Makita", 0.62},
	"HV-7101": {"VER-HAND", "Hultafors", 0.8},
	"HV-7102": {"VER-HAND", "Hultafors", 0.3},
	"HV-7103": {"VER-HAND", "Hultafors", 0.45},
	"HV-7104": {"VER-TILL", "Makita", 0.35},
	"HV-7105": {"VER-HAND", "Hultafors", 0.1},
	"HV-7106": {"VER-TILL", "Bosch", 0.08},
	"FA-8101": {"FAS", "ESSVE", 1.2},
	"FA-8102": {"FAS", "ESSVE", 1.6},
	"FA-8103": {"FAS", "Gunnebo Fastening", 0.4},
	"FA-8104": {"FAS", "Gunnebo Fastening", 5.1},
	"KE-9101": {"KEM", "Bostik", 0.9},
	"KE-9102": {"KEM", "Casco", 0.45},
	"KE-9103": {"KEM", "", 0.6}, // no manufacturer recorded
	"AR-9201": {"ELB", "Milwaukee", 1.7},
	"AR-9202": {"ELB", "Garo", 1.4},
	"LI-9301": {"PER-LIV", "Gevalia", 0.5},
	"LI-9302": {"PER-LIV", "Ramlösa", 13.2},
	"LI-9401": {"PER-LIT", "Prevent", 0.7},
	"PK-0500": {"PRE", "", 0},
}

// groupText is the description of an article in a top-level group.
var groupText = map[string]string{
	"ARB": "Arbetskläder för proffs, tvättbara i 60 °C.",
	"SKY": "Personlig skyddsutrustning, CE-märkt enligt gällande EN-standard.",
	"VER": "Verktyg för yrkesbruk med tillverkarens garanti.",
	"FAS": "Förzinkade fästelement för inomhus- och utomhusbruk.",
	"KEM": "Läs säkerhetsdatabladet före användning.",
	"ELB": "För inomhus- och utomhusbruk på byggarbetsplats.",
	"PER": "Till personalrummet och utbildningen.",
	"PRE": "Gäller i två år från köpdagen.",
}

// sizes are the variants of generated clothing, shoes and gloves.
var sizes = []string{"XS", "S", "M", "L", "XL", "XXL", "C44", "C46", "C48", "C50", "C52", "C54", "C56", "D96", "D100", "D104", "D108", "D112", "D116", "D120"}

// articles returns the fixed assortment and, up to total, generated
// variants of its ordinary articles (not food, books or gift cards); ChangedAt
// is left for the caller.
func articles(total int) []productRec {
	out := make([]productRec, 0, max(total, len(catalogue)))
	for _, p := range catalogue {
		out = append(out, productRec{product: p, info: fixedInfo(p)})
	}
	ordinary := catalogue[:len(catalogue)-4]
	for i := 0; len(out) < total; i++ {
		base := ordinary[i%len(ordinary)]
		round := i / len(ordinary)
		p := base
		info := fixedInfo(base)
		p.Number = fmt.Sprintf("%s-%03d", base.Number, round+1)
		switch top(info.group) {
		case "ARB", "SKY":
			p.Name = fmt.Sprintf("%s, storlek %s", base.Name, sizes[round%len(sizes)])
		default:
			p.Name = fmt.Sprintf("%s, art. %d", base.Name, round+1)
		}
		p.Price = base.Price + erp.Amount((round%7)*500) // a few kronor apart
		info.ean = ean13("735", p.Number)
		info.eanNumber = false
		out = append(out, productRec{product: p, info: info})
	}
	return out
}

// fixedInfo is the master data of an article of the fixed assortment.
func fixedInfo(p product) productInfo {
	d := details[p.Number]
	info := productInfo{group: d.group, maker: d.maker, weight: d.weight, desc: p.Name + ". " + groupText[top(d.group)]}
	switch p.Number {
	case "PK-0500": // a gift card: no EAN, weight or maker
		info.desc = "Presentkort på 500 kr. " + groupText["PRE"]
	case "LI-9401": // a book: its ISBN as EAN, sent as a number
		info.ean, info.eanNumber = ean13("97891", p.Number), true
	default:
		info.ean = ean13("735", p.Number)
	}
	return info
}

// top is the top-level group of a group code.
func top(code string) string {
	for _, g := range groups {
		if g.Code == code && g.Parent != "" {
			return g.Parent
		}
	}
	return code
}

// ean13 makes a valid EAN-13 from prefix and a hash of seed.
func ean13(prefix, seed string) string {
	h := fnv.New64a()
	h.Write([]byte(seed))
	digits := prefix + fmt.Sprintf("%012d", h.Sum64()%1_000_000_000_000)[:12-len(prefix)]
	sum := 0
	for i, r := range digits {
		d := int(r - '0')
		if i%2 == 1 {
			d *= 3
		}
		sum += d
	}
	return digits + strconv.Itoa((10-sum%10)%10)
}

// productRow is one row of GET /Products.
type productRow struct {
	ProductNumber string `json:"ProductNumber"`
	Name          string `json:"Name"`
	Unit          string `json:"Unit"`
	ChangedAt     string `json:"ChangedAt"`
}

func toProductRow(p *productRec) productRow {
	return productRow{ProductNumber: p.Number, Name: p.Name, Unit: p.Unit, ChangedAt: p.changed}
}

// productFull is GET /Products/{n}: the row and the master data, null
// where the merchant recorded nothing.
type productFull struct {
	ProductNumber string   `json:"ProductNumber"`
	Name          string   `json:"Name"`
	Unit          string   `json:"Unit"`
	ChangedAt     string   `json:"ChangedAt"`
	ProductGroup  *string  `json:"ProductGroup"`
	Manufacturer  *string  `json:"Manufacturer"`
	Ean           any      `json:"Ean,omitempty"`
	VatRate       int      `json:"VatRate"`
	Weight        *float64 `json:"Weight"`
	Description   string   `json:"Description"`
}

func toProductFull(p *productRec) productFull {
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	out := productFull{ProductNumber: p.Number, Name: p.Name, Unit: p.Unit, ChangedAt: p.changed,
		ProductGroup: orNull(p.info.group), Manufacturer: orNull(p.info.maker), VatRate: p.VAT, Description: p.info.desc}
	switch {
	case p.info.ean == "":
	case p.info.eanNumber:
		out.Ean = json.Number(p.info.ean)
	default:
		out.Ean = p.info.ean
	}
	if p.info.weight > 0 {
		w := p.info.weight
		out.Weight = &w
	}
	return out
}

// productList answers GET /Products, filtered by changedSince and
// productGroup (the group's own articles, not its subgroups').
func (s *Server) productList(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	since, hasSince := q.since("changedSince")
	grp := q.v.Get("productGroup")
	page, size := q.page()
	if q.bad(w) {
		return
	}
	keep := func(p *productRec) bool {
		return (!hasSince || !p.changedT.Before(since)) && (grp == "" || p.info.group == grp)
	}
	s.mu.RLock()
	items, total := window(s.products, keep, page, size, toProductRow)
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, erp.Page[productRow]{Items: items, Page: page, PageSize: size, TotalCount: total})
}

func (s *Server) productOne(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("n")
	s.mu.RLock()
	i, ok := s.productAt[n]
	var p productFull
	if ok {
		p = toProductFull(&s.products[i])
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Validation", fmt.Sprintf("product %s not found", n),
			fieldError{"productNumber", "no such product"})
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// groupRow is one row of GET /ProductGroups.
type groupRow struct {
	Code       string  `json:"Code"`
	Name       string  `json:"Name"`
	ParentCode *string `json:"ParentCode"`
}

func (s *Server) productGroups(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	page, size := q.page()
	if q.bad(w) {
		return
	}
	items, total := window(groups, func(*group) bool { return true }, page, size, func(g *group) groupRow {
		row := groupRow{Code: g.Code, Name: g.Name}
		if g.Parent != "" {
			p := g.Parent
			row.ParentCode = &p
		}
		return row
	})
	writeJSON(w, http.StatusOK, erp.Page[groupRow]{Items: items, Page: page, PageSize: size, TotalCount: total})
}

// GroupCodes returns the codes of the product groups, parents first.
func (s *Server) GroupCodes() []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.Code
	}
	return out
}

// TouchProduct sets the ChangedAt of article n to now (always later than
// before), as an edit of its master data in the ERP would; false when
// there is no such article.
func (s *Server) TouchProduct(n string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.productAt[n]
	if !ok {
		return false
	}
	p := &s.products[i]
	p.changed = s.stamp(p.changed)
	p.changedT = parseStamp(p.changed)
	return true
}
