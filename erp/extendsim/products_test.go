package extendsim_test

import (
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// client is the gateway's own Extend client for sim, behind a real server.
func client(t *testing.T, sim *extendsim.Server) *erp.Client {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := erp.New(erp.Config{BaseURL: srv.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func validEAN(s string) bool {
	if len(s) != 13 {
		return false
	}
	sum := 0
	for i, r := range s {
		if r < '0' || r > '9' {
			return false
		}
		d := int(r - '0')
		if i%2 == 1 && i < 12 {
			d *= 3
		}
		if i < 12 {
			sum += d
		}
	}
	return strconv.Itoa((10-sum%10)%10) == s[12:]
}

func TestProductCatalogue(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opts  extendsim.Options
		total int
	}{
		{"fixed assortment", extendsim.Options{Now: func() time.Time { return now }}, extendsim.FixedProducts},
		{"2000 articles", extendsim.Options{Now: func() time.Time { return now }, Products: 2000}, 2000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim := extendsim.New(tt.opts)
			c := client(t, sim)
			ctx := t.Context()
			groups, err := c.ProductGroups(ctx)
			if err != nil {
				t.Fatalf("ProductGroups: %v", err)
			}
			known := map[string]bool{}
			for _, g := range groups {
				if g.ParentCode != "" && !known[g.ParentCode] {
					t.Errorf("group %s: parent %q is not listed before it", g.Code, g.ParentCode)
				}
				known[g.Code] = true
			}
			var headers []erp.ProductHeader
			for page := 1; ; page++ {
				p, err := c.ProductHeaders(ctx, erp.ProductQuery{Page: page, PageSize: 100})
				if err != nil {
					t.Fatalf("ProductHeaders page %d: %v", page, err)
				}
				if p.TotalCount != tt.total {
					t.Fatalf("ProductHeaders TotalCount = %d, want %d", p.TotalCount, tt.total)
				}
				headers = append(headers, p.Items...)
				if len(p.Items) == 0 || len(headers) >= p.TotalCount {
					break
				}
			}
			if len(headers) != tt.total || len(sim.ProductNumbers()) != tt.total {
				t.Fatalf("listed %d articles, ProductNumbers has %d; want %d", len(headers), len(sim.ProductNumbers()), tt.total)
			}
			seen := map[string]bool{}
			for _, h := range headers {
				if seen[h.ProductNumber] || h.Name == "" || h.Unit == "" || h.ChangedAt == "" {
					t.Fatalf("article %+v: duplicate or incomplete", h)
				}
				seen[h.ProductNumber] = true
			}
			// Every article's full record names a known group; most have
			// a maker and a valid EAN.
			sample := headers
			if len(sample) > 120 {
				sample = append(slices.Clone(headers[:41]), headers[len(headers)-80:]...)
			}
			products, err := c.Products(ctx, sample, nil)
			if err != nil {
				t.Fatalf("Products: %v", err)
			}
			makers := 0
			for _, p := range products {
				if !known[p.ProductGroup] {
					t.Errorf("%s: group %q is not a product group", p.ProductNumber, p.ProductGroup)
				}
				if p.Manufacturer != "" {
					makers++
				}
				if p.Ean != "" && !validEAN(p.Ean) {
					t.Errorf("%s: EAN %q has a wrong check digit", p.ProductNumber, p.Ean)
				}
				if p.VatRate == nil || p.Description == "" {
					t.Errorf("%s: no VAT rate or description: %+v", p.ProductNumber, p)
				}
			}
			if makers < len(products)*9/10 {
				t.Errorf("%d of %d articles have a manufacturer, want most", makers, len(products))
			}
		})
	}
}

func TestProductRecords(t *testing.T) {
	sim := extendsim.New(extendsim.Options{Now: func() time.Time { return now }})
	c := client(t, sim)
	ctx := t.Context()
	drill, err := c.Product(ctx, "VE-6101")
	if err != nil {
		t.Fatalf("Product(VE-6101): %v", err)
	}
	if drill.ProductGroup != "VER-EL" || drill.Manufacturer != "Makita" || drill.Weight == nil || *drill.Weight != 2.6 ||
		drill.VatRate == nil || *drill.VatRate != 25 || !validEAN(drill.Ean) {
		t.Errorf("Product(VE-6101) = %+v", drill)
	}
	// The gift card has no maker, EAN or weight; its 0 % VAT is a rate.
	card, err := c.Product(ctx, "PK-0500")
	if err != nil {
		t.Fatalf("Product(PK-0500): %v", err)
	}
	if card.Manufacturer != "" || card.Ean != "" || card.Weight != nil || card.VatRate == nil || *card.VatRate != 0 {
		t.Errorf("Product(PK-0500) = %+v, want no maker, EAN or weight and VAT 0", card)
	}
	// The book's EAN arrives as a JSON number and is an ISBN.
	if raw := string(setup(t).get(t, "/Products/LI-9401", 200)); !strings.Contains(raw, `"Ean":978`) {
		t.Errorf("GET /Products/LI-9401 = %s, want the EAN as a number", raw)
	}
	book, err := c.Product(ctx, "LI-9401")
	if err != nil || book.Ean[:3] != "978" || !validEAN(book.Ean) {
		t.Errorf("Product(LI-9401) = %+v, %v; want an ISBN-13 EAN", book, err)
	}
	if _, err := c.Product(ctx, "NOPE"); err == nil {
		t.Errorf("Product(NOPE) = nil error, want ErrNotFound")
	}

	// A group filter lists the group's own articles.
	p, err := c.ProductHeaders(ctx, erp.ProductQuery{ProductGroup: "VER-EL"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range p.Items {
		got = append(got, h.ProductNumber)
	}
	if diff := cmp.Diff([]string{"VE-6101", "VE-6102", "VE-6103", "VE-6104", "VE-6105"}, got); diff != "" {
		t.Errorf("ProductHeaders(group VER-EL) mismatch (-want +got):\n%s", diff)
	}

	// TouchProduct moves ChangedAt, and changedSince finds it.
	if !sim.TouchProduct("HA-4101") || sim.TouchProduct("NOPE") {
		t.Fatalf("TouchProduct: want true for HA-4101, false for NOPE")
	}
	p, err = c.ProductHeaders(ctx, erp.ProductQuery{ChangedSince: now.Add(-time.Second)})
	if err != nil || len(p.Items) != 1 || p.Items[0].ProductNumber != "HA-4101" || p.Items[0].ChangedAt != now.Format(time.RFC3339) {
		t.Errorf("ProductHeaders(changedSince now) = %+v, %v; want HA-4101 changed now", p.Items, err)
	}
	if n := sim.Calls(extendsim.OpProductGroups) + sim.Calls(extendsim.OpProduct); n == 0 {
		t.Errorf("Calls counted no product calls")
	}
}
