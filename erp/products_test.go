package erp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func num(f float64) *Number { n := Number(f); return &n }

func TestProductHeaders(t *testing.T) {
	c, f := setup(t, Config{})
	f.handle("GET /Products", func(w http.ResponseWriter, r *http.Request) {
		testQuery(t, r, url.Values{"changedSince": {"2024-05-20T00:00:00Z"}, "productGroup": {"MOB-STOL"},
			"page": {"2"}, "pageSize": {"100"}})
		serveFixture(t, 200, "products_page.json")(w, r)
	})
	since := time.Date(2024, 5, 20, 2, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	got, err := c.ProductHeaders(t.Context(), ProductQuery{ChangedSince: since, ProductGroup: "MOB-STOL", Page: 2, PageSize: 500})
	if err != nil {
		t.Fatalf("ProductHeaders: %v", err)
	}
	want := Page[ProductHeader]{Page: 2, PageSize: 2, TotalCount: 7, Items: []ProductHeader{
		{ProductNumber: "10-4410", Name: "Kontorsstol Ergo 200", Unit: "st", ChangedAt: "2024-05-21T06:00:00Z"},
		{ProductNumber: "KAFFE-500", Name: "Kaffe mellanrost 500 g", Unit: "fp", ChangedAt: "2024-05-20T16:45:10Z"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ProductHeaders mismatch (-want +got):\n%s", diff)
	}
}

func TestProductHeaders_noFilters(t *testing.T) {
	c, f := setup(t, Config{})
	f.handle("GET /Products", func(w http.ResponseWriter, r *http.Request) {
		testQuery(t, r, url.Values{})
		serveFixture(t, 200, "products_page.json")(w, r)
	})
	if _, err := c.ProductHeaders(t.Context(), ProductQuery{}); err != nil {
		t.Fatalf("ProductHeaders: %v", err)
	}
}

func TestProduct(t *testing.T) {
	tests := []struct {
		number, fixture string
		want            Product
	}{
		{"10-4410", "product_full.json", Product{
			ProductNumber: "10-4410", Name: "Kontorsstol Ergo 200", Unit: "st", ChangedAt: "2024-05-21T06:00:00Z",
			ProductGroup: "MOB-STOL", Manufacturer: "Nordic Seating AB", Ean: "7350012344105",
			VatRate: num(25), Weight: num(14.5), Description: "Kontorsstol med synkronmekanik.\nArmstöd 3D.",
		}},
		// Nulls and absent fields decode as "" and nil; a rate of 0 stays
		// a rate; an EAN sent as a number is kept digit for digit.
		{"PK-0500", "product_nulls.json", Product{
			ProductNumber: "PK-0500", Name: "Presentkort 500 kr", ChangedAt: "2024-05-01T08:00:00Z",
			Ean: "7350012340008", VatRate: num(0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			c, f := setup(t, Config{})
			f.handle("GET /Products/{n}", func(w http.ResponseWriter, r *http.Request) {
				if n := r.PathValue("n"); n != tt.number {
					t.Errorf("GET /Products/%s, want %s", n, tt.number)
				}
				testQuery(t, r, url.Values{})
				serveFixture(t, 200, tt.fixture)(w, r)
			})
			got, err := c.Product(t.Context(), tt.number)
			if err != nil {
				t.Fatalf("Product(%q): %v", tt.number, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Product(%q) mismatch (-want +got):\n%s", tt.number, diff)
			}
		})
	}
}

func TestProduct_errors(t *testing.T) {
	c, f := setup(t, Config{})
	f.handle("GET /Products/{n}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("n") {
		case "GONE":
			serveFixture(t, 404, "error_notfound.json")(w, r)
		default:
			fmt.Fprint(w, `{"ProductNumber":"X","Ean":{"bad":1}}`)
		}
	})
	if _, err := c.Product(t.Context(), "GONE"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Product(GONE) error = %v, want ErrNotFound", err)
	}
	if _, err := c.Product(t.Context(), "X"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("Product(X) error = %v, want ErrBadResponse", err)
	}
	if _, err := c.Product(t.Context(), " "); !errors.Is(err, ErrValidation) {
		t.Errorf("Product(blank) error = %v, want ErrValidation", err)
	}
}

func TestProducts_reuse(t *testing.T) {
	c, f := setup(t, Config{})
	var calls atomic.Int32
	f.handle("GET /Products/{n}", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprintf(w, `{"ProductNumber":%q,"Name":"fetched","ChangedAt":"2024-05-21T06:00:00Z"}`, r.PathValue("n"))
	})
	headers := []ProductHeader{{ProductNumber: "A", ChangedAt: "2024-05-21T06:00:00Z"},
		{ProductNumber: "B", ChangedAt: "2024-05-21T06:00:00Z"}, {ProductNumber: "C", ChangedAt: "2024-05-21T06:00:00Z"}}
	kept := Product{ProductNumber: "B", Name: "kept", ChangedAt: "2024-05-21T06:00:00Z"}
	got, err := c.Products(t.Context(), headers, func(h ProductHeader) (Product, bool) {
		return kept, h.ProductNumber == "B"
	})
	if err != nil {
		t.Fatalf("Products: %v", err)
	}
	names := []string{got[0].Name, got[1].Name, got[2].Name}
	if diff := cmp.Diff([]string{"fetched", "kept", "fetched"}, names); diff != "" {
		t.Errorf("Products names mismatch (-want +got):\n%s", diff)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("Products made %d calls, want 2", n)
	}
}

func TestProductGroups(t *testing.T) {
	t.Run("paged", func(t *testing.T) {
		c, f := setup(t, Config{})
		var calls atomic.Int32
		f.handle("GET /ProductGroups", func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			page := r.URL.Query().Get("page")
			testQuery(t, r, url.Values{"page": {page}, "pageSize": {"100"}})
			switch page {
			case "1":
				serveFixture(t, 200, "product_groups_page.json")(w, r)
			case "2":
				fmt.Fprint(w, `{"Items":[{"Code":"KAF","Name":"Kaffe & te","ParentCode":""}],"Page":2,"PageSize":100,"TotalCount":3}`)
			default:
				t.Errorf("page %s asked for, want 1 and 2 only", page)
			}
		})
		got, err := c.ProductGroups(t.Context())
		if err != nil {
			t.Fatalf("ProductGroups: %v", err)
		}
		want := []ProductGroup{{Code: "MOB", Name: "Möbler"}, {Code: "MOB-STOL", Name: "Stolar", ParentCode: "MOB"},
			{Code: "KAF", Name: "Kaffe & te"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ProductGroups mismatch (-want +got):\n%s", diff)
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("ProductGroups made %d calls, want 2", n)
		}
	})
	t.Run("bare array", func(t *testing.T) {
		c, f := setup(t, Config{})
		f.handle("GET /ProductGroups", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `[{"Code":"MOB","Name":"Möbler","ParentCode":null}]`)
		})
		got, err := c.ProductGroups(t.Context())
		if err != nil || len(got) != 1 || got[0].Code != "MOB" {
			t.Fatalf("ProductGroups = %+v, %v; want [MOB]", got, err)
		}
	})
	t.Run("never ending", func(t *testing.T) {
		c, f := setup(t, Config{})
		f.handle("GET /ProductGroups", func(w http.ResponseWriter, r *http.Request) {
			p, _ := strconv.Atoi(r.URL.Query().Get("page"))
			fmt.Fprintf(w, `{"Items":[{"Code":"G%d"}],"TotalCount":1000000}`, p)
		})
		if _, err := c.ProductGroups(t.Context()); !errors.Is(err, ErrBadResponse) {
			t.Errorf("ProductGroups error = %v, want ErrBadResponse", err)
		}
	})
	t.Run("no items", func(t *testing.T) {
		c, f := setup(t, Config{})
		f.handle("GET /ProductGroups", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"TotalCount":3}`)
		})
		if _, err := c.ProductGroups(t.Context()); !errors.Is(err, ErrBadResponse) {
			t.Errorf("ProductGroups error = %v, want ErrBadResponse", err)
		}
	})
}

func TestRateGroup_products(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/Products":          RateGroupProducts,
		"/Products/HV-1101":         RateGroupProducts,
		"/ProductGroups":            RateGroupProducts,
		"/ProductAvailability":      RateGroupProducts,
		"/CustomerOrders":           RateGroupSales,
		"/Customers/10001":          RateGroupOther,
		"/api/v1/ProductsSomething": RateGroupOther,
	} {
		if got := RateGroup(path); got != want {
			t.Errorf("RateGroup(%q) = %q, want %q", path, got, want)
		}
	}
}
