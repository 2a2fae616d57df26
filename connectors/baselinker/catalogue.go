package baselinker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vendre-extend/gateway/erp"
)

// Catalogue is what Baselinker sees of Extend's articles: two snapshots
// kept in the cache store (kept): the articles with their full records,
// product groups and net prices for Config.Customer; and the stock
// balances over Config.Warehouses. Baselinker's reads never wait on more
// than the first build; later builds run in the background.
type Catalogue struct {
	cfg   Config
	erp   ERP
	store Store
	items *kept[catalogueSnapshot]
	stock *kept[stockSnapshot]
}

// catalogueSnapshot is the articles as Extend lists them, each with its
// full record, the product groups and the prices.
type catalogueSnapshot struct {
	Products []erp.Product        `json:"products"` // in Extend's list order
	Missing  int                  `json:"missing"`  // records that could not be read (the old one kept where there was one)
	Groups   []erp.ProductGroup   `json:"groups"`
	Prices   map[string]erp.Price `json:"prices"` // net, for Config.Customer; articles without one are not offered

	once sync.Once
	at   map[string]int // product number -> index in Products
}

// index returns the position of every article by number.
func (s *catalogueSnapshot) index() map[string]int {
	s.once.Do(func() {
		s.at = make(map[string]int, len(s.Products))
		for i, p := range s.Products {
			s.at[p.ProductNumber] = i
		}
	})
	return s.at
}

// product returns the article numbered n.
func (s *catalogueSnapshot) product(n string) (erp.Product, bool) {
	i, ok := s.index()[n]
	if !ok {
		return erp.Product{}, false
	}
	return s.Products[i], true
}

// stockSnapshot is the available balance of every article in every
// counted warehouse.
type stockSnapshot struct {
	AsOf     time.Time                     `json:"as_of"`   // the balances are as of this time
	FullAt   time.Time                     `json:"full_at"` // of the last full read (the others read changes)
	Balances map[string]map[string]float64 `json:"balances"`
}

// quantity is the stock Baselinker sees: the sum over the counted
// warehouses, in whole units, never below zero.
func (s *stockSnapshot) quantity(n string) int {
	sum := 0.0
	for _, b := range s.Balances[n] {
		sum += b
	}
	if sum <= 0 || math.IsNaN(sum) {
		return 0
	}
	return int(math.Min(math.Floor(sum+1e-9), math.MaxInt32))
}

// Snapshot freshness and keeping.
const (
	incompleteFresh = time.Minute // a catalogue missing records is refreshed this soon
	fullStockEvery  = time.Hour   // the stock is read in full this often, else changes only
	stockOverlap    = time.Minute // a read of changes starts this long before the last one
	keepCatalogue   = 7 * 24 * time.Hour
	keepStock       = 24 * time.Hour
	recordTTL       = time.Hour // a single article read for an order
	readConcurrency = 8         // records read at once while building
	giveUpAfter     = 20        // consecutive failed record reads end a build
)

func newCatalogue(bg context.Context, cfg Config, e ERP, store Store, leases leaser) *Catalogue {
	c := &Catalogue{cfg: cfg, erp: e, store: store}
	c.items = &kept[catalogueSnapshot]{
		name: "product catalogue", key: keys.Connector("baselinker", "catalogue"), store: store, leases: leases,
		fresh: func(s *catalogueSnapshot) time.Duration {
			if s.Missing > 0 {
				return incompleteFresh
			}
			return cfg.CatalogueFresh
		},
		keep: keepCatalogue, build: c.buildItems, bg: bg, log: cfg.Logger, now: cfg.Now,
	}
	c.stock = &kept[stockSnapshot]{
		name: "stock", key: keys.Connector("baselinker", "stock"), store: store, leases: leases,
		fresh: func(*stockSnapshot) time.Duration { return cfg.StockFresh },
		keep:  keepStock, build: c.buildStock, bg: bg, log: cfg.Logger, now: cfg.Now,
	}
	return c
}

// snapshots returns both snapshots, waiting for their first builds.
func (c *Catalogue) snapshots(ctx context.Context) (*catalogueSnapshot, *stockSnapshot, error) {
	var stock *stockSnapshot
	var serr error
	done := make(chan struct{})
	go func() { // the stock's first read runs alongside the articles'
		defer close(done)
		stock, serr = c.stock.get(ctx, c.cfg.Wait)
	}()
	items, err := c.items.get(ctx, c.cfg.Wait)
	<-done
	if err != nil {
		return nil, nil, err
	}
	if serr != nil {
		return nil, nil, serr
	}
	return items, stock, nil
}

// allHeaders lists every article, a page of erp.MaxPageSize at a time.
func (c *Catalogue) allHeaders(ctx context.Context) ([]erp.ProductHeader, error) {
	var out []erp.ProductHeader
	err := erp.EachPage(ctx, 10000, func(ctx context.Context, page int) (erp.Page[erp.ProductHeader], error) {
		return c.erp.ProductHeaders(ctx, erp.ProductQuery{Page: page, PageSize: erp.MaxPageSize})
	}, func(hs []erp.ProductHeader, _ int) error {
		out = append(out, hs...)
		return nil
	})
	if errors.Is(err, erp.ErrTooManyPages) {
		return out, nil // as many as a catalogue can hold
	}
	if err != nil {
		return nil, fmt.Errorf("baselinker: listing articles: %w", err)
	}
	return out, nil
}

// buildItems reads the article list, the groups, every record whose
// ChangedAt differs from old's, and the prices. A record that cannot be
// read keeps its old version, or leaves the article out (counted in
// Missing, so that the next refresh comes soon).
func (c *Catalogue) buildItems(ctx context.Context, old *catalogueSnapshot, progress func(done, total int)) (*catalogueSnapshot, error) {
	headers, err := c.allHeaders(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := c.erp.ProductGroups(ctx)
	if err != nil {
		if old == nil {
			return nil, fmt.Errorf("baselinker: product groups: %w", err)
		}
		groups = old.Groups
	}
	products := make([]erp.Product, len(headers))
	have := make([]bool, len(headers))
	var todo []int
	for i, h := range headers {
		if old != nil {
			if p, ok := old.product(h.ProductNumber); ok && p.ChangedAt == h.ChangedAt && h.ChangedAt != "" {
				products[i], have[i] = p, true
				continue
			}
		}
		todo = append(todo, i)
	}
	var done, failedInRow, missing atomic.Int64
	done.Store(int64(len(headers) - len(todo)))
	progress(int(done.Load()), len(headers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readConcurrency)
	var firstErr error
	var errOnce sync.Once
	for _, i := range todo {
		g.Go(func() error {
			if gctx.Err() != nil {
				return gctx.Err()
			}
			n := headers[i].ProductNumber
			p, err := c.erp.Product(gctx, n)
			switch {
			case err == nil:
				products[i], have[i] = p, true
				failedInRow.Store(0)
			case errors.Is(err, erp.ErrNotFound): // deleted since it was listed
			default:
				errOnce.Do(func() { firstErr = err })
				if old != nil {
					if p, ok := old.product(n); ok {
						products[i], have[i] = p, true
					}
				}
				missing.Add(1)
				if failedInRow.Add(1) >= giveUpAfter {
					return fmt.Errorf("baselinker: reading article records: %d failed in a row: %w", giveUpAfter, err)
				}
			}
			progress(int(done.Add(1)), len(headers))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	s := &catalogueSnapshot{Groups: groups, Missing: int(missing.Load()), Prices: map[string]erp.Price{}}
	for i, p := range products {
		if have[i] {
			s.Products = append(s.Products, p)
		}
	}
	if len(s.Products) == 0 && firstErr != nil {
		return nil, fmt.Errorf("baselinker: reading article records: %w", firstErr)
	}
	numbers := make([]string, len(s.Products))
	for i, p := range s.Products {
		numbers[i] = p.ProductNumber
	}
	prices, err := c.erp.ProductPrices(ctx, c.cfg.Customer, numbers)
	switch {
	case err == nil:
		for _, p := range prices {
			s.Prices[p.ProductNumber] = p
		}
	case errors.Is(err, erp.ErrNotFound):
		return nil, &Error{Status: http.StatusBadGateway, Code: CodeERPError, cause: err,
			Text: fmt.Sprintf("Extend has no customer %s: set BASELINKER_ERP_CUSTOMER to the customer whose prices Baselinker shows", c.cfg.Customer)}
	case old != nil:
		s.Prices, s.Missing = old.Prices, max(s.Missing, 1) // try again soon
	default:
		return nil, fmt.Errorf("baselinker: prices of customer %s: %w", c.cfg.Customer, err)
	}
	return s, nil
}

// buildStock reads the balances: in full at first and every
// fullStockEvery, else the changes since the last read.
func (c *Catalogue) buildStock(ctx context.Context, old *stockSnapshot, progress func(done, total int)) (*stockSnapshot, error) {
	start := c.cfg.Now().UTC()
	s := &stockSnapshot{AsOf: start, FullAt: start, Balances: map[string]map[string]float64{}}
	var since time.Time
	if old != nil && start.Sub(old.FullAt) < fullStockEvery {
		since, s.FullAt = old.AsOf.Add(-stockOverlap), old.FullAt
		for p, ws := range old.Balances {
			s.Balances[p] = maps(ws)
		}
	}
	warehouses := c.cfg.Warehouses
	if len(warehouses) == 0 {
		warehouses = []string{""} // every warehouse, in one list
	}
	read := 0
	for _, w := range warehouses {
		err := erp.EachPage(ctx, 100000, func(ctx context.Context, page int) (erp.Page[erp.Availability], error) {
			return c.erp.ProductAvailability(ctx, nil, w, since, page, erp.MaxPageSize)
		}, func(as []erp.Availability, _ int) error {
			for _, a := range as {
				if w != "" && a.Warehouse != w {
					continue
				}
				if s.Balances[a.ProductNumber] == nil {
					s.Balances[a.ProductNumber] = map[string]float64{}
				}
				s.Balances[a.ProductNumber][a.Warehouse] = float64(a.AvailableBalance)
			}
			read += len(as)
			progress(read, 0)
			return nil
		})
		if err != nil && !errors.Is(err, erp.ErrTooManyPages) {
			return nil, fmt.Errorf("baselinker: stock: %w", err)
		}
	}
	return s, nil
}

func maps(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Product returns the article numbered n as Extend has it, for an order:
// from the catalogue snapshot when it holds it, else read (and kept for
// recordTTL). ok is false when Extend does not know the article. Errors:
// the ERP's (see erp.Client.Product).
func (c *Catalogue) Product(ctx context.Context, n string) (p erp.Product, ok bool, err error) {
	if s, _ := c.items.peek(ctx); s != nil {
		if p, ok := s.product(n); ok {
			return p, true, nil
		}
	}
	key := keys.Connector("baselinker", "product", n)
	if b, found, err := c.store.Get(ctx, key); err == nil && found && json.Unmarshal(b, &p) == nil {
		return p, true, nil
	}
	p, err = c.erp.Product(ctx, n)
	switch {
	case errors.Is(err, erp.ErrNotFound):
		return erp.Product{}, false, nil
	case err != nil:
		return erp.Product{}, false, err
	}
	if b, err := json.Marshal(p); err == nil {
		_ = c.store.Set(ctx, key, b, recordTTL)
	}
	return p, true, nil
}

// groupPath is a group's name with its parents', "Verktyg / Elverktyg".
func groupPath(groups []erp.ProductGroup, code string) string {
	by := make(map[string]erp.ProductGroup, len(groups))
	for _, g := range groups {
		by[g.Code] = g
	}
	var names []string
	for seen := 0; code != "" && seen < 10; seen++ {
		g, ok := by[code]
		if !ok {
			break
		}
		names = append(names, g.Name)
		code = g.ParentCode
	}
	slices.Reverse(names)
	out := ""
	for i, n := range names {
		if i > 0 {
			out += " / "
		}
		out += n
	}
	return out
}
