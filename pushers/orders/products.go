package orders

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/vendre-extend/gateway/erp"
)

// Verifier is a Source whose orders are checked in Extend after Map and
// before any create, and may be completed from Extend's data (a product's
// VAT rate turns a marketplace's gross price into the net price Extend
// books): an error wrapping ErrMapping sends the order to manual handling
// (nothing is created), any other error is retried. A source that answers
// its shop synchronously (Baselinker's OrderAdd) runs the same check
// before Submit.
type Verifier interface {
	Source
	Verify(ctx context.Context, o *erp.NewOrder) error
}

// ProductERP is what a Catalog needs of Extend; *erp.Client has it.
type ProductERP interface {
	// Product errors: erp.ErrNotFound when Extend does not know it.
	Product(ctx context.Context, productNumber string) (erp.Product, error)
}

// DefaultCatalogTTL is how long a Catalog trusts that a product exists.
const DefaultCatalogTTL = time.Hour

// Catalog tells whether Extend knows a product (GET /Products/{n}),
// remembering products it found for a TTL, so that a backlog of orders of
// the same few products costs one ERP call per product. A product Extend
// does not know is not remembered: a person may add it and replay the
// order. Concurrent checks of one product share one call.
type Catalog struct {
	e     ProductERP
	ttl   time.Duration
	now   func() time.Time
	group singleflight.Group

	mu    sync.Mutex
	known map[string]time.Time // product -> until
	calls int64
}

// NewCatalog returns a catalog asking e; ttl 0 means DefaultCatalogTTL.
func NewCatalog(e ProductERP, ttl time.Duration) *Catalog {
	if ttl <= 0 {
		ttl = DefaultCatalogTTL
	}
	return &Catalog{e: e, ttl: ttl, now: time.Now, known: map[string]time.Time{}}
}

// Known reports whether Extend has the product. Errors: those of
// ProductERP other than erp.ErrNotFound (then: try again later).
func (c *Catalog) Known(ctx context.Context, productNumber string) (bool, error) {
	c.mu.Lock()
	until, ok := c.known[productNumber]
	c.mu.Unlock()
	if ok && c.now().Before(until) {
		return true, nil
	}
	v, err, _ := c.group.Do(productNumber, func() (any, error) {
		c.mu.Lock()
		c.calls++
		c.mu.Unlock()
		_, err := c.e.Product(ctx, productNumber)
		switch {
		case errors.Is(err, erp.ErrNotFound):
			return false, nil
		case err != nil:
			return false, err
		}
		c.mu.Lock()
		c.known[productNumber] = c.now().Add(c.ttl)
		c.mu.Unlock()
		return true, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// Calls is how many product look-ups reached Extend.
func (c *Catalog) Calls() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// checkProducts returns an error wrapping ErrMapping naming every product
// of o Extend does not know, or the first look-up error.
func checkProducts(ctx context.Context, c *Catalog, o erp.NewOrder) error {
	var unknown []string
	for _, r := range o.Rows {
		ok, err := c.Known(ctx, r.ProductNumber)
		if err != nil {
			return fmt.Errorf("checking product %s in Extend: %w", r.ProductNumber, err)
		}
		if !ok && !slices.Contains(unknown, r.ProductNumber) {
			unknown = append(unknown, r.ProductNumber)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: Extend does not know product %s", ErrMapping, strings.Join(unknown, ", "))
	}
	return nil
}
