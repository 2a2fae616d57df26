package pull

// Vendre's extended calls (contract: "Extended Vendre calls"): backorders,
// credit notes, addresses, prices and stock.
//
// Backorders, credit notes and addresses are whole answers cached like the
// basic calls (serve). Prices and stock are different: a shop page asks for
// many products at once, in ever new combinations, so each product's part
// of the answer is its own cache entry (per customer for prices, shared
// for stock) and an answer is put together from its parts (parts). The
// parts that are missing, or past their freshness, are fetched in one ERP
// call per answer (Extend takes up to 100 products per call), so a page of
// 50 products costs at most one call, and a later page sharing 40 of them
// asks only for the other 10. The cache treats parts like answers.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/schemas"
)

// MaxProducts is the most products one prices or stock call may name (the
// contract's limit; the answer's schema refuses more).
const MaxProducts = 100

// Bounds of the list reads behind backorders and credit notes.
const (
	// backorderDays is how far back, in days of order date, backorders
	// are looked for. An order still open after a year is a matter for
	// the merchant, not for My Account.
	backorderDays = 365
	// maxListPages bounds how many pages of erp.MaxPageSize headers one
	// answer reads (5 000 orders or invoices); older ones are left out
	// and a warning is logged.
	maxListPages = 50
	// creditScanMax bounds how many invoices, newest first, one credit
	// notes answer examines (CreditInvoiceList).
	creditScanMax = 1000
)

// CatalogERP is what the extended calls need of Extend Commerce besides
// the order and invoice calls; it is part of ERP, so the compiler checks
// that the client has it.
type CatalogERP interface {
	ProductAvailability(ctx context.Context, productNumbers []string, warehouse string, changedSince time.Time, page, pageSize int) (erp.Page[erp.Availability], error)
	ProductPrices(ctx context.Context, customerNumber string, productNumbers []string) ([]erp.Price, error)
	Customer(ctx context.Context, number string) (erp.CustomerRecord, error)
}

// Backorders answers GET /v1/backorders: the rows of the customer's open
// orders (neither Delivered nor Cancelled) with a backordered quantity,
// newest order first.
//
// Only the order records tell status and rows, so it reads every order
// header of the last 365 days (one list call per 100 orders) and each
// record not already kept with the same ChangedAt (one call per changed
// order; unchanged ones are reused). A customer unknown to the ERP gets
// [].
func (s *Service) Backorders(ctx context.Context, customerNo string) (Answer, error) {
	today := s.mapper.Today()
	return s.serve(ctx, s.kinds.backorders, keys.Backorders(customerNo, today), func(ctx context.Context) ([]byte, error) {
		from := today
		if t, err := time.Parse(time.DateOnly, today); err == nil {
			from = t.AddDate(0, 0, -backorderDays).Format(time.DateOnly)
		}
		q := erp.ListQuery{CustomerNumber: customerNo, From: from}
		hs, err := allHeaders(ctx, s, "orders of "+customerNo, func(h erp.OrderHeader) string { return h.OrderNumber },
			func(ctx context.Context, page int) (erp.Page[erp.OrderHeader], error) {
				q.Page, q.PageSize = page, erp.MaxPageSize
				return s.erp.OrderHeaders(ctx, q)
			})
		if err != nil {
			return nil, err
		}
		recs, err := fetchKept(ctx, hs,
			func(ctx context.Context, hs []erp.OrderHeader) ([]erp.Order, error) {
				return s.erp.Orders(ctx, hs, s.reuseOrder(ctx))
			},
			func(o erp.Order) { s.keepRecord(ctx, keys.OrderRecord(o.OrderNumber), o) })
		if err != nil {
			return nil, err
		}
		mine := make([]erp.Order, 0, len(recs))
		for _, o := range recs {
			if o.CustomerNumber != customerNo {
				s.log.Warn("erp listed a record of another customer; dropped", "order", o.OrderNumber, "customer_no", customerNo)
				continue
			}
			mine = append(mine, o)
		}
		return s.encode(schemas.Backorders, s.mapper.Backorders(mine))
	})
}

// CreditInvoiceList answers GET /v1/credit-invoices: the customer's credit
// notes dated q.From to q.To, newest first, one page of them.
//
// Extend's invoice list cannot filter credit notes, and only the record
// says IsCredit, so it walks the invoice headers newest first (one list
// call per 100 invoices), reading each record not already kept with the
// same ChangedAt (one call each; the records are shared with GET
// /v1/invoices), and stops as soon as it has the page and one credit note
// more. Its cost is thus bounded by the page asked for, not by the date
// window: page 1 of a ten-year window costs what page 1 of one year does,
// as long as credit notes are not rarer. It also stops after
// creditScanMax invoices whatever it found. total is exact when the walk
// reached the window's end, else the number found so far: at least one
// more than the page ends with, so a next page is offered.
func (s *Service) CreditInvoiceList(ctx context.Context, customerNo string, q ListQuery) (Answer, error) {
	key := keys.CreditInvoiceList(customerNo, s.mapper.Today(), q.From, q.To, q.Page, q.PerPage)
	return s.serve(ctx, s.kinds.creditInvoices, key, func(ctx context.Context) ([]byte, error) {
		want := max(q.Page, 1)*q.PerPage + 1
		credits := make([]api.InvoiceRow, 0)
		seen := map[string]bool{}
		lq := erp.ListQuery{CustomerNumber: customerNo, From: q.From, To: q.To, PageSize: erp.MaxPageSize}
		err := erp.EachPage(ctx, maxListPages, func(ctx context.Context, page int) (erp.Page[erp.InvoiceHeader], error) {
			lq.Page = page
			return s.erp.InvoiceHeaders(ctx, lq)
		}, func(items []erp.InvoiceHeader, total int) error {
			hs := make([]erp.InvoiceHeader, 0, len(items))
			for _, h := range items {
				if !seen[h.InvoiceNumber] { // the list shifted between pages
					seen[h.InvoiceNumber] = true
					hs = append(hs, h)
				}
			}
			for len(hs) > 0 {
				chunk := hs[:min(len(hs), recordChunk)]
				hs = hs[len(chunk):]
				recs, err := s.erp.Invoices(ctx, chunk, s.reuseInvoice(ctx))
				if err != nil {
					return err
				}
				for _, inv := range recs {
					s.keepRecord(ctx, keys.InvoiceRecord(inv.InvoiceNumber), inv)
					switch {
					case inv.CustomerNumber != customerNo:
						s.log.Warn("erp listed a record of another customer; dropped", "invoice", inv.InvoiceNumber, "customer_no", customerNo)
					case inv.IsCredit:
						credits = append(credits, s.mapper.InvoiceRow(inv))
					}
				}
				if len(credits) >= want {
					return erp.ErrStopPaging
				}
			}
			if len(items) > 0 && len(seen) < total && len(seen) >= creditScanMax {
				s.log.Warn("credit notes: stopped after examining the newest invoices", "customer_no", customerNo, "examined", len(seen), "total", total)
				return erp.ErrStopPaging
			}
			return nil
		})
		// Not found: the ERP does not know the customer, no credit notes; too
		// many pages: a list that never ends, what was found.
		if err != nil && !errors.Is(err, erp.ErrNotFound) && !errors.Is(err, erp.ErrTooManyPages) {
			return nil, err
		}
		start := min(max(q.Page-1, 0)*q.PerPage, len(credits))
		end := min(start+q.PerPage, len(credits))
		out := api.InvoiceList{Invoices: credits[start:end], Page: q.Page, PerPage: q.PerPage, Total: len(credits)}
		return s.encode(schemas.CreditInvoiceList, out)
	})
}

// allHeaders reads a header list page by page (erp.MaxPageSize each) until
// the ERP's TotalCount is reached or a page comes back empty, at most
// maxListPages pages. A header seen twice (the list shifted between pages)
// is kept once. An ERP that does not know the customer (erp.ErrNotFound)
// lists nothing.
func allHeaders[H any](ctx context.Context, s *Service, what string, id func(H) string,
	list func(ctx context.Context, page int) (erp.Page[H], error)) ([]H, error) {
	var all []H
	seen := map[string]bool{}
	last := 0 // the last TotalCount read
	err := erp.EachPage(ctx, maxListPages, list, func(hs []H, total int) error {
		last = total
		for _, h := range hs {
			if n := id(h); !seen[n] {
				seen[n] = true
				all = append(all, h)
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, erp.ErrTooManyPages):
		s.log.Warn("list too long; the oldest entries are left out", "list", what, "read", len(all), "total", last)
	case err != nil && !errors.Is(err, erp.ErrNotFound):
		return nil, err
	}
	return all, nil
}

// recordChunk is how many records are fetched before they are kept: a
// first read of a long list that runs out of budget (or into the ERP's
// rate limit) still keeps what it got, and the next try reuses it. Small,
// because a chunk that fails loses all of its records; two waves of the
// ERP client's default concurrency.
const recordChunk = 16

// fetchKept fetches the records of hs recordChunk at a time, in order, and
// hands each chunk's records to keep as soon as it arrives.
func fetchKept[H, R any](ctx context.Context, hs []H, fetch func(context.Context, []H) ([]R, error), keep func(R)) ([]R, error) {
	out := make([]R, 0, len(hs))
	for len(hs) > 0 {
		chunk := hs[:min(len(hs), recordChunk)]
		hs = hs[len(chunk):]
		recs, err := fetch(ctx, chunk)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			keep(r)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// Addresses answers GET /v1/addresses: the customer's invoice and delivery
// addresses from the customer record (GET /Customers/{n}). A customer
// unknown to the ERP gets [] (like the lists); so does a record that names
// another customer number.
func (s *Service) Addresses(ctx context.Context, customerNo string) (Answer, error) {
	return s.serve(ctx, s.kinds.addresses, keys.Addresses(customerNo), func(ctx context.Context) ([]byte, error) {
		c, err := s.erp.Customer(ctx, customerNo)
		switch {
		case errors.Is(err, erp.ErrNotFound):
			c = erp.CustomerRecord{}
		case err != nil:
			return nil, err
		case c.CustomerNumber != "" && c.CustomerNumber != customerNo:
			s.log.Warn("erp answered another customer's record; dropped", "record", c.CustomerNumber, "customer_no", customerNo)
			c = erp.CustomerRecord{}
		}
		return s.encode(schemas.Addresses, s.mapper.Addresses(c))
	})
}

// Prices answers GET /v1/prices: the customer's best net price now of each
// product (GET /ProductPrices), in the order asked, and the products the
// ERP has no price of in unknown. products holds 1 to MaxProducts distinct
// product numbers (the handler checks them). Each product's price is
// cached per customer (CACHE_TTL_LIST); only the missing and stale ones are
// asked of the ERP, in one call. A customer unknown to the ERP gets every
// product in unknown.
//
// Errors, when a price is not cached and the ERP cannot give it:
// erp.ErrUnavailable, erp.ErrThrottled, erp.ErrTimeout, erp.ErrBadResponse,
// erp.ErrValidation, erp.ErrUnauthorized; ErrSchema for an answer that
// fails its schema.
func (s *Service) Prices(ctx context.Context, customerNo string, products []string) (Answer, error) {
	keyOf := func(p string) string { return keys.Price(customerNo, p) }
	fetch := func(ctx context.Context, need []string) (map[string]json.RawMessage, error) {
		prices, err := s.erp.ProductPrices(ctx, customerNo, need)
		if errors.Is(err, erp.ErrNotFound) {
			return nil, nil // the ERP does not know the customer: no prices
		}
		if err != nil {
			return nil, fmt.Errorf("pull: prices for %s: %w", customerNo, err)
		}
		asked := make(map[string]bool, len(need))
		for _, p := range need {
			asked[p] = true
		}
		got := make(map[string]json.RawMessage, len(prices))
		for _, p := range prices {
			if _, dup := got[p.ProductNumber]; dup || !asked[p.ProductNumber] {
				continue // not asked for, or a repeat: the first one counts
			}
			b, err := json.Marshal(s.mapper.Price(p))
			if err != nil {
				return nil, fmt.Errorf("pull: encode price: %w", err)
			}
			got[p.ProductNumber] = b
		}
		return got, nil
	}
	// The parts are api.Price JSON, checked when they were fetched: they
	// are joined as they are.
	compose := func(products []string, parts []json.RawMessage) ([]byte, error) {
		b := make([]byte, 0, 32+len(products)*48)
		b = append(b, `{"prices":[`...)
		var unknown []string
		n := 0
		for i, p := range products {
			if isUnknown(parts[i]) {
				unknown = append(unknown, p)
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, parts[i]...)
			n++
		}
		b = append(b, `],"unknown":`...)
		u, err := json.Marshal(append([]string{}, unknown...))
		if err != nil {
			return nil, fmt.Errorf("pull: encode prices: %w", err)
		}
		return append(append(b, u...), '}'), nil
	}
	return s.parts(ctx, s.kinds.prices, schemas.Prices, products, keyOf, fetch, compose)
}

// stockRow is one warehouse's balance of a product, as cached.
type stockRow struct {
	Warehouse string  `json:"w"`
	Available float64 `json:"a"`
}

// Stock answers GET /v1/stock: each product's available balance (GET
// /ProductAvailability), summed over the warehouses, or in warehouse when
// it is not "", in the order asked; products the ERP has no balance of in
// any warehouse are in unknown (a known product that warehouse does not
// hold has 0). products holds 1 to MaxProducts distinct product numbers.
//
// Each product's balances in every warehouse are one cache entry (shared
// by all customers and warehouse filters, CACHE_TTL_LIST), so that
// StockChanged renews one entry; the missing and stale ones are read in
// one pass over the ERP's list (one call per 100 balance rows).
//
// Errors: those of Prices.
func (s *Service) Stock(ctx context.Context, products []string, warehouse string) (Answer, error) {
	compose := func(products []string, parts []json.RawMessage) ([]byte, error) {
		out := api.Stock{Stock: []api.StockLevel{}, Unknown: []string{}}
		for i, p := range products {
			var rows []stockRow
			if !isUnknown(parts[i]) {
				if err := json.Unmarshal(parts[i], &rows); err != nil {
					return nil, fmt.Errorf("pull: cached stock of %s: %w", p, err)
				}
			}
			if len(rows) == 0 {
				out.Unknown = append(out.Unknown, p)
				continue
			}
			var sum float64
			for _, r := range rows {
				if warehouse == "" || r.Warehouse == warehouse {
					sum += r.Available
				}
			}
			out.Stock = append(out.Stock, api.StockLevel{Model: p, Available: roundQuantity(sum)})
		}
		return json.Marshal(out)
	}
	return s.parts(ctx, s.kinds.stock, schemas.Stock, products, keys.Stock, s.fetchStock, compose)
}

// StockChanged is told that a product's balance changed in the ERP (a
// balance webhook): it reads the product's balances at once (one GET
// /ProductAvailability call, a refresh within the ERP budget) and replaces
// its cached entry, so the next GET /v1/stock shows the new balance. When
// the ERP fails, the entry is made stale instead: the next read asks the
// ERP again and shows the old balance only as STALE. It returns the ERP's
// error (erp.ErrValidation for a product number that cannot be asked for).
//
// A stock answer being built while the webhook is handled may still write
// the balance it read before; that entry lives at most CACHE_TTL_LIST.
func (s *Service) StockChanged(ctx context.Context, productNumber string) error {
	ctx, cancel := context.WithTimeout(erp.WithClass(ctx, erp.Refresh), s.cfg.Budget)
	defer cancel()
	key := keys.Stock(productNumber)
	got, err := s.fetchStock(ctx, []string{productNumber})
	if err != nil {
		s.cache.Expire(ctx, s.kinds.stock, key)
		return fmt.Errorf("pull: stock of %s changed: %w", productNumber, err)
	}
	part, ok := got[productNumber]
	if !ok {
		part = nullPart
	}
	s.cache.Put(ctx, s.kinds.stock, key, part)
	return nil
}

// fetchStock reads the balances of products in every warehouse, page by
// page, and returns each known product's rows (warehouses in name order);
// products with no row are missing from the map.
func (s *Service) fetchStock(ctx context.Context, products []string) (map[string]json.RawMessage, error) {
	asked := make(map[string]map[string]float64, len(products))
	for _, p := range products {
		asked[p] = nil
	}
	err := erp.EachPage(ctx, maxListPages, func(ctx context.Context, page int) (erp.Page[erp.Availability], error) {
		return s.erp.ProductAvailability(ctx, products, "", time.Time{}, page, erp.MaxPageSize)
	}, func(items []erp.Availability, _ int) error {
		for _, a := range items {
			byWarehouse, ok := asked[a.ProductNumber]
			if !ok {
				continue // not asked for
			}
			if byWarehouse == nil {
				byWarehouse = map[string]float64{}
				asked[a.ProductNumber] = byWarehouse
			}
			byWarehouse[a.Warehouse] = float64(a.AvailableBalance) // a repeat after a shift: the later read wins
		}
		return nil
	})
	switch {
	case errors.Is(err, erp.ErrTooManyPages):
		s.log.Warn("availability list too long; the rest is left out", "pages", maxListPages)
	case err != nil:
		return nil, fmt.Errorf("pull: stock: %w", err)
	}
	got := make(map[string]json.RawMessage, len(products))
	for p, byWarehouse := range asked {
		if len(byWarehouse) == 0 {
			continue
		}
		rows := make([]stockRow, 0, len(byWarehouse))
		for w, a := range byWarehouse {
			rows = append(rows, stockRow{Warehouse: w, Available: a})
		}
		slices.SortFunc(rows, func(a, b stockRow) int { return cmp.Compare(a.Warehouse, b.Warehouse) })
		b, err := json.Marshal(rows)
		if err != nil {
			return nil, fmt.Errorf("pull: encode stock: %w", err)
		}
		got[p] = b
	}
	return got, nil
}

// roundQuantity rounds a summed balance to 6 decimals, so that 0.1 + 0.2
// shows as 0.3.
func roundQuantity(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// nullPart is the cached part of a product the ERP does not know.
var nullPart = json.RawMessage("null")

func isUnknown(part json.RawMessage) bool { return len(part) == 0 || string(part) == "null" }

// parts answers a prices or stock call from one cache entry per product
// (keyOf gives its key), which the cache fills in one fetch for all the
// missing and stale ones (cache.Cache.GetMany). fetch asks the ERP for the
// parts of some products (a product missing from its map is unknown to the
// ERP); compose builds the answer from products and their parts (nullPart
// for an unknown one). Fetched parts are stored only when an answer made
// of them passes the schema, so an answer put together from stored parts
// needs no check.
func (s *Service) parts(ctx context.Context, kind cache.Kind, schema string, products []string, keyOf func(string) string,
	fetch func(ctx context.Context, products []string) (map[string]json.RawMessage, error),
	compose func(products []string, parts []json.RawMessage) ([]byte, error)) (Answer, error) {
	ks := make([]string, len(products))
	for i, p := range products {
		ks[i] = keyOf(p)
	}
	ents, o, err := s.cache.GetMany(ctx, kind, ks, func(ctx context.Context, need []string) (map[string][]byte, error) {
		product := make(map[string]string, len(ks)) // key -> product
		for i, k := range ks {
			product[k] = products[i]
		}
		ps := make([]string, len(need))
		for i, k := range need {
			ps[i] = product[k]
		}
		got, err := fetch(ctx, ps)
		if err != nil {
			return nil, err
		}
		parts := make([]json.RawMessage, len(ps))
		out := make(map[string][]byte, len(need))
		for i, p := range ps {
			part, ok := got[p]
			if !ok {
				part = nullPart
			}
			parts[i], out[need[i]] = part, part
		}
		body, err := compose(ps, parts)
		if err == nil {
			_, err = s.encode(schema, json.RawMessage(body))
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	})
	if err != nil {
		return Answer{}, err
	}
	parts := make([]json.RawMessage, len(ents))
	for i, e := range ents {
		parts[i] = e.Body
	}
	body, err := compose(products, parts)
	if err != nil {
		return Answer{}, err
	}
	return Answer{Body: body, Outcome: o}, nil
}
