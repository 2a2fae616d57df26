package baselinker

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"

	"github.com/vendre-extend/gateway/erp"
)

// The product actions: everything is answered from the catalogue's
// snapshots (catalogue.go), never article by article from Extend.
//
// A product's id is its article number in Extend, and so is its sku.
// Prices are gross: the net price of Config.Customer plus the article's
// VAT rate, rounded to 0.01. An article Extend has no price for is not
// offered (it would sell for nothing).

// Page sizes: ProductsList's default and largest page, and the page of
// ProductsPrices and ProductsQuantity.
const (
	listPage    = 100
	maxListPage = 1000
	valuesPage  = 1000
	maxDataIDs  = 1000 // products_id of ProductsData
)

// offered is one article as Baselinker sees it.
type offered struct {
	p        erp.Product
	quantity int
	price    float64 // gross
}

// offers joins the snapshots: every article with a price, in Extend's
// list order.
func offers(items *catalogueSnapshot, stock *stockSnapshot) []offered {
	out := make([]offered, 0, len(items.Products))
	for _, p := range items.Products {
		pr, ok := items.Prices[p.ProductNumber]
		if !ok {
			continue
		}
		out = append(out, offered{p: p, quantity: stock.quantity(p.ProductNumber), price: gross(pr.Price, p.VatRate)})
	}
	return out
}

// gross is net plus VAT at rate (none when unknown), in currency units.
func gross(net erp.Amount, rate *erp.Number) float64 {
	f := float64(net)
	if rate != nil && *rate > 0 {
		f *= 1 + float64(*rate)/100
	}
	return math.Round(f) / 100
}

// pages is how many pages of size n the total fills; 1 at least.
func pages(total, n int) int { return max(1, (total+n-1)/n) }

// window returns page (1-based) of size n of s.
func window[T any](s []T, page, n int) []T {
	first := (page - 1) * n
	if first >= len(s) {
		return nil
	}
	return s[first:min(first+n, len(s))]
}

// --- ProductsCategories

// productsCategories is ProductsCategories: group code to its name with
// its parents' ("Verktyg / Elverktyg"). Before the catalogue is read the
// groups are read on their own (one call) and the catalogue's first read
// starts, as Baselinker asks for products next.
func (c *Connector) productsCategories(ctx context.Context, _ noParams) (object, error) {
	var groups []erp.ProductGroup
	if s, _ := c.cat.items.peek(ctx); s != nil {
		groups = s.Groups
	} else {
		c.cat.items.start()
		var err error
		if groups, err = c.erp.ProductGroups(ctx); err != nil {
			return nil, err
		}
	}
	out := make(object, 0, len(groups))
	for _, g := range groups {
		out = append(out, member{g.Code, groupPath(groups, g.Code)})
	}
	return out, nil
}

// --- ProductsList

// productsListRequest is ProductsList's parameters.
type productsListRequest struct {
	category     string // a group code; "" or "all": every group
	page, limit  int
	ids          []string // filter_id, filter_ids_list
	sku, ean     string
	name         string // part of the name, any case
	priceFrom    *float64
	priceTo      *float64
	qtyFrom      *float64
	qtyTo        *float64
	available    *bool
	sortBy, desc string
}

func (r *productsListRequest) parse(f *form) {
	if r.category = f.str("category_id"); strings.EqualFold(r.category, "all") {
		r.category = ""
	}
	r.page = f.integer("page", 1, 1, 1_000_000)
	r.limit = f.integer("filter_limit", listPage, 1, maxListPage)
	r.ids = f.list("filter_ids_list", maxDataIDs)
	if id := f.str("filter_id"); id != "" {
		r.ids = append(r.ids, id)
	}
	r.sku, r.ean, r.name = f.str("filter_sku"), f.str("filter_ean"), strings.ToLower(f.str("filter_name"))
	opt := func(name string) *float64 {
		if v, ok := f.number(name); ok {
			return &v
		}
		return nil
	}
	r.priceFrom, r.priceTo = opt("filter_price_from"), opt("filter_price_to")
	r.qtyFrom, r.qtyTo = opt("filter_quantity_from"), opt("filter_quantity_to")
	if f.has("filter_available") {
		a := f.flag("filter_available", false)
		r.available = &a
	}
	if s := strings.Fields(strings.ToLower(f.str("filter_sort"))); len(s) > 0 {
		r.sortBy = s[0]
		if !slices.Contains([]string{"id", "name", "quantity", "price"}, r.sortBy) {
			f.fail("filter_sort must be id, name, quantity or price, then ASC or DESC")
		}
		if len(s) > 1 && s[1] == "desc" {
			r.desc = "desc"
		}
	}
}

// keep reports whether o passes the filters.
func (r *productsListRequest) keep(o offered) bool {
	in := func(v float64, lo, hi *float64) bool { return (lo == nil || v >= *lo) && (hi == nil || v <= *hi) }
	return (r.category == "" || o.p.ProductGroup == r.category) &&
		(len(r.ids) == 0 || slices.Contains(r.ids, o.p.ProductNumber)) &&
		(r.sku == "" || o.p.ProductNumber == r.sku) && (r.ean == "" || o.p.Ean == r.ean) &&
		(r.name == "" || strings.Contains(strings.ToLower(o.p.Name), r.name)) &&
		in(o.price, r.priceFrom, r.priceTo) && in(float64(o.quantity), r.qtyFrom, r.qtyTo) &&
		(r.available == nil || *r.available == (o.quantity > 0))
}

// listedProduct is one product of ProductsList.
type listedProduct struct {
	Name     string  `json:"name"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"` // gross
	EAN      string  `json:"ean"`
	SKU      string  `json:"sku"`
}

// productsList is ProductsList: one page of the offered articles, keyed by
// product id, and "pages".
func (c *Connector) productsList(ctx context.Context, r productsListRequest) (object, error) {
	items, stock, err := c.cat.snapshots(ctx)
	if err != nil {
		return nil, err
	}
	var found []offered
	for _, o := range offers(items, stock) {
		if r.keep(o) {
			found = append(found, o)
		}
	}
	if r.sortBy != "" {
		slices.SortStableFunc(found, func(a, b offered) int {
			var d int
			switch r.sortBy {
			case "id":
				d = strings.Compare(a.p.ProductNumber, b.p.ProductNumber)
			case "name":
				d = strings.Compare(a.p.Name, b.p.Name)
			case "quantity":
				d = cmp.Compare(a.quantity, b.quantity)
			case "price":
				d = cmp.Compare(a.price, b.price)
			}
			if r.desc != "" {
				d = -d
			}
			return d
		})
	}
	out := object{}
	for _, o := range window(found, r.page, r.limit) {
		out = append(out, member{o.p.ProductNumber, listedProduct{Name: o.p.Name, Quantity: o.quantity, Price: o.price,
			EAN: o.p.Ean, SKU: o.p.ProductNumber}})
	}
	return append(out, member{"pages", pages(len(found), r.limit)}), nil
}

// --- ProductsData

// productsDataRequest is ProductsData's parameters.
type productsDataRequest struct {
	ids []string
}

func (r *productsDataRequest) parse(f *form) {
	if r.ids = f.list("products_id", maxDataIDs); len(r.ids) == 0 && len(f.errs) == 0 {
		f.fail("products_id is required: product ids, comma-separated")
	}
}

// productData is one product of ProductsData.
type productData struct {
	SKU          string      `json:"sku"`
	EAN          string      `json:"ean"`
	Name         string      `json:"name"`
	Quantity     int         `json:"quantity"`
	Price        float64     `json:"price"` // gross
	Tax          float64     `json:"tax"`   // VAT percent
	Weight       float64     `json:"weight"`
	Description  string      `json:"description"`
	ManName      string      `json:"man_name"`
	CategoryID   string      `json:"category_id"`
	CategoryName string      `json:"category_name"`
	Images       []string    `json:"images"`
	Features     [][2]string `json:"features"`
	Variants     object      `json:"variants"`
}

// productsData is ProductsData: the asked-for products in full; ids the
// catalogue does not offer are left out.
func (c *Connector) productsData(ctx context.Context, r productsDataRequest) (object, error) {
	items, stock, err := c.cat.snapshots(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range r.ids {
		want[id] = true
	}
	out := object{}
	for _, o := range offers(items, stock) {
		if !want[o.p.ProductNumber] {
			continue
		}
		d := productData{SKU: o.p.ProductNumber, EAN: o.p.Ean, Name: o.p.Name, Quantity: o.quantity, Price: o.price,
			Description: o.p.Description, ManName: o.p.Manufacturer, CategoryID: o.p.ProductGroup,
			CategoryName: groupPath(items.Groups, o.p.ProductGroup), Images: []string{}, Features: [][2]string{}, Variants: object{}}
		if o.p.VatRate != nil {
			d.Tax = float64(*o.p.VatRate)
		}
		if o.p.Weight != nil {
			d.Weight = float64(*o.p.Weight)
		}
		if o.p.Unit != "" {
			d.Features = append(d.Features, [2]string{"Unit", o.p.Unit})
		}
		out = append(out, member{o.p.ProductNumber, d})
	}
	return append(out, member{"pages", 1}), nil
}

// --- ProductsPrices and ProductsQuantity

// pageRequest is the parameters of an action that only pages.
type pageRequest struct {
	page int
}

func (r *pageRequest) parse(f *form) { r.page = f.integer("page", 1, 1, 1_000_000) }

// productsPrices is ProductsPrices: product id to gross price, a page of
// valuesPage, and "pages".
func (c *Connector) productsPrices(ctx context.Context, r pageRequest) (object, error) {
	return c.values(ctx, r.page, func(o offered) any { return o.price })
}

// productsQuantity is ProductsQuantity: product id to stock, a page of
// valuesPage, and "pages".
func (c *Connector) productsQuantity(ctx context.Context, r pageRequest) (object, error) {
	return c.values(ctx, r.page, func(o offered) any { return o.quantity })
}

func (c *Connector) values(ctx context.Context, page int, value func(offered) any) (object, error) {
	items, stock, err := c.cat.snapshots(ctx)
	if err != nil {
		return nil, err
	}
	all := offers(items, stock)
	out := object{}
	for _, o := range window(all, page, valuesPage) {
		out = append(out, member{o.p.ProductNumber, value(o)})
	}
	return append(out, member{"pages", pages(len(all), valuesPage)}), nil
}
