package pull

// Freshness from Extend's own signals (docs/cache.md, "Freshness"): a
// customer's order and invoice answers stay fresh until Extend says that
// one of the records behind them changed, and cost no ERP call meanwhile.
// Extend says so in two ways, both handled here:
//
//   - its webhooks (OrderChanged, InvoiceChanged), at once;
//   - the sweep (Sweep): one paged call per record type, every
//     CACHE_SWEEP_EVERY, for the orders and invoices of all customers
//     changed since the last one. It heals a webhook that was lost, and
//     confirms to the cache that every change up to its start is known
//     (cache.Cache.Confirm), which is what keeps the answers fresh.
//
// A change of a record retires its customer's answers of that family
// (cache.Family) and marks the kept record as changed; nothing is fetched
// until somebody asks. The kept records tell whose a record is: a record
// the gateway never kept is in none of its answers, unless it is new,
// which only its creation says. So a creation (a webhook's, or a record in
// the sweep dated since the last sweep) is fetched, once, to learn its
// customer; any other change of a record never kept costs nothing.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erp"
)

// sweepOverlap is how far before the last sweep's start each sweep looks,
// for a clock of Extend's behind the gateway's: a change seen twice costs
// nothing more than its comparison.
const sweepOverlap = time.Minute

// kept is what a kept record says of itself. A record kept without
// ChangedAt is the mark of one that changed since (changed).
type kept struct {
	CustomerNumber string `json:"CustomerNumber"`
	ChangedAt      string `json:"ChangedAt"`
}

// current reads the record kept under key into rec, and reports whether it
// may stand for the ERP's: kept, not marked as changed, and fresh (within
// CACHE_TTL_DETAIL of being read, or since then vouched for by the sweep).
func (s *Service) current(ctx context.Context, key string, rec any) bool {
	e, ok := s.cache.Peek(ctx, s.kinds.record, key)
	if !ok || !s.cache.Fresh(s.kinds.record, e) {
		return false
	}
	var k kept
	if json.Unmarshal(e.Body, &k) != nil || k.ChangedAt == "" {
		return false
	}
	return json.Unmarshal(e.Body, rec) == nil
}

// OrderChanged is told that an order changed in the ERP (a webhook;
// created: OrderCreated). Its customer's order answers are retired, to be
// read again on their next request; an order the gateway never kept is
// fetched only when it is new (its ERP call a refresh, erp.Refresh).
// It returns erp.ErrNotFound for a new order the ERP does not have.
func (s *Service) OrderChanged(ctx context.Context, orderNumber string, created bool) error {
	err := s.changed(ctx, cache.FamilyOrders, keys.OrderRecord(orderNumber), "", created, func(ctx context.Context) (string, any, error) {
		o, err := s.erp.Order(erp.WithClass(ctx, erp.Refresh), orderNumber)
		return o.CustomerNumber, o, err
	})
	if err != nil {
		return fmt.Errorf("pull: order %s changed: %w", orderNumber, err)
	}
	return nil
}

// InvoiceChanged is OrderChanged for an invoice (created:
// CustomerInvoiceCreated).
func (s *Service) InvoiceChanged(ctx context.Context, invoiceNumber string, created bool) error {
	err := s.changed(ctx, cache.FamilyInvoices, keys.InvoiceRecord(invoiceNumber), "", created, func(ctx context.Context) (string, any, error) {
		inv, err := s.erp.Invoice(erp.WithClass(ctx, erp.Refresh), invoiceNumber)
		return inv.CustomerNumber, inv, err
	})
	if err != nil {
		return fmt.Errorf("pull: invoice %s changed: %w", invoiceNumber, err)
	}
	return nil
}

// changed applies the change of the record kept under key, of family:
// changedAt is the record's ChangedAt as the sweep read it ("" from a
// webhook); fetch reads the record, for a new one. A change already
// applied, or one the kept record already has, does nothing.
func (s *Service) changed(ctx context.Context, family, key, changedAt string, created bool,
	fetch func(context.Context) (customerNo string, rec any, err error)) error {
	if e, ok := s.cache.Peek(ctx, s.kinds.record, key); ok {
		var k kept
		if json.Unmarshal(e.Body, &k) == nil && k.CustomerNumber != "" {
			if k.ChangedAt == "" || k.ChangedAt == changedAt {
				return nil // marked as changed already, or current
			}
			if err := s.cache.Retire(ctx, cache.Family(k.CustomerNumber, family)); err != nil {
				return err
			}
			b, _ := json.Marshal(kept{CustomerNumber: k.CustomerNumber}) // never fails
			s.cache.Put(ctx, s.kinds.record, key, b)
			return nil
		}
	}
	if !created {
		return nil // in no answer
	}
	customerNo, rec, err := fetch(ctx)
	if err != nil {
		return err
	}
	// Retired first, so that a list read meanwhile is not kept as fresh.
	if err := s.cache.Retire(ctx, cache.Family(customerNo, family)); err != nil {
		return err
	}
	s.keepRecord(ctx, key, rec)
	return nil
}

// maxSweepPages bounds one sweep's read of one record type (100,000
// changes); a sweep that finds more confirms nothing, and the next one
// reads from the same point again.
const maxSweepPages = 1000

// Sweep reads the orders and invoices of every customer changed since the
// last sweep (one paged call per record type; background work for the
// ERP's budget, erp.Background), applies each change as its webhook would
// (a record dated since the day before counting as created), and confirms
// to the cache that every change up to the sweep's start is known. The
// first sweep, or the first after Redis lost its data, looks back
// sweepOverlap only: what the cache held before is not vouched for.
func (s *Service) Sweep(ctx context.Context) error {
	start := s.now()
	feed, err := s.cache.Feed(ctx)
	if err != nil {
		return err
	}
	since := start.Add(-sweepOverlap)
	if !feed.Through.IsZero() {
		since = feed.Through.Add(-sweepOverlap)
	}
	ctx = erp.WithClass(ctx, erp.Background)
	recent := since.UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	q := erp.ListQuery{ChangedSince: since, PageSize: erp.MaxPageSize}
	err = sweep(ctx, func(ctx context.Context, page int) (erp.Page[erp.OrderHeader], error) {
		q.Page = page
		return s.erp.OrderHeaders(ctx, q)
	}, func(h erp.OrderHeader) error {
		n := h.OrderNumber
		return s.changed(ctx, cache.FamilyOrders, keys.OrderRecord(n), h.ChangedAt, h.OrderDate >= recent, func(ctx context.Context) (string, any, error) {
			o, err := s.erp.Order(ctx, n)
			return o.CustomerNumber, o, err
		})
	})
	if err != nil {
		return fmt.Errorf("pull: sweep of orders: %w", err)
	}
	err = sweep(ctx, func(ctx context.Context, page int) (erp.Page[erp.InvoiceHeader], error) {
		q.Page = page
		return s.erp.InvoiceHeaders(ctx, q)
	}, func(h erp.InvoiceHeader) error {
		n := h.InvoiceNumber
		return s.changed(ctx, cache.FamilyInvoices, keys.InvoiceRecord(n), h.ChangedAt, h.InvoiceDate >= recent, func(ctx context.Context) (string, any, error) {
			inv, err := s.erp.Invoice(ctx, n)
			return inv.CustomerNumber, inv, err
		})
	})
	if err != nil {
		return fmt.Errorf("pull: sweep of invoices: %w", err)
	}
	return s.cache.Confirm(ctx, since, start)
}

// sweep reads a list of changed headers page by page to its end, handing
// each to apply.
func sweep[H any](ctx context.Context, list func(ctx context.Context, page int) (erp.Page[H], error), apply func(H) error) error {
	err := erp.EachPage(ctx, maxSweepPages, list, func(hs []H, _ int) error {
		for _, h := range hs {
			if err := apply(h); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, erp.ErrTooManyPages) {
		return fmt.Errorf("more than %d pages of changes", maxSweepPages)
	}
	return err
}

// RunSweeps sweeps every CACHE_SWEEP_EVERY until ctx ends, on one replica
// at a time (a lease in Redis); a failed sweep is logged and the next one
// reaches back to where the last good one ended. Without a period it
// returns nil at once; otherwise it returns nil when ctx ends.
func (s *Service) RunSweeps(ctx context.Context) error {
	every := s.cfg.SweepEvery
	if every <= 0 {
		return nil
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if ok, err := s.cache.Lease(ctx, "sweep", every*9/10); err != nil {
			s.log.Warn("change sweep skipped", "err", err)
		} else if ok {
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("change sweep failed; the next one reaches back", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
