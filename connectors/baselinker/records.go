package baselinker

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erp"
)

// recordCache keeps the Extend orders and invoices OrdersGet shows, in the
// cache store, so that Baselinker polling its orders does not cost one ERP
// call per order each time. A kept record is used while nothing says it
// changed: every OrdersGet first lists what changed in Extend since the
// last look (GET /CustomerOrders and /CustomerInvoices with changedSince,
// typically one call each, at most every sweepEvery) and forgets those
// records. A record kept before the look-ups began (a cold store, another
// replica's gap) is not trusted.
type recordCache struct {
	store Store
	erp   ERP
	now   func() time.Time
}

// Record cache pacing.
const (
	sweepEvery   = 10 * time.Second // the change lists are read at most this often
	sweepOverlap = 2 * time.Minute  // and from this long before the last read (clocks differ)
	recordKeep   = 24 * time.Hour
	sweepPages   = 50 // a longer change list forgets every record instead
)

// sweepState is when the change lists were read.
type sweepState struct {
	Since time.Time `json:"since"` // records fetched before this are not trusted
	Last  time.Time `json:"last"`  // the last read
}

// kept is a record with when it was fetched.
type keptRecord[T any] struct {
	Fetched time.Time `json:"fetched"`
	Record  T         `json:"record"`
}

// keys builds the connector's cache keys (cache/keys.go).
var keys cache.Keys

func sweepKey() string                { return keys.Connector("baselinker", "sweep") }
func recordKey(kind, n string) string { return keys.Connector("baselinker", kind, n) }

// sweep reads what changed in Extend since the last look and forgets the
// kept records whose ChangedAt is not the one listed; it returns the time
// from which kept records are trusted.
func (rc *recordCache) sweep(ctx context.Context) (time.Time, error) {
	now := rc.now().UTC()
	var st sweepState
	if b, ok, err := rc.store.Get(ctx, sweepKey()); err == nil && ok {
		_ = json.Unmarshal(b, &st)
	}
	if !st.Last.IsZero() && now.Sub(st.Last) < sweepEvery {
		return st.Since, nil
	}
	if st.Since.IsZero() || now.Sub(st.Last) > recordKeep {
		st = sweepState{Since: now} // nothing kept is trusted
	} else {
		since := st.Last.Add(-sweepOverlap)
		orders, err := changed(ctx, since, func(q erp.ListQuery) ([]header, int, error) {
			p, err := rc.erp.OrderHeaders(ctx, q)
			out := make([]header, len(p.Items))
			for i, h := range p.Items {
				out[i] = header{h.OrderNumber, h.ChangedAt}
			}
			return out, p.TotalCount, err
		})
		if err != nil {
			return time.Time{}, err
		}
		invoices, err := changed(ctx, since, func(q erp.ListQuery) ([]header, int, error) {
			p, err := rc.erp.InvoiceHeaders(ctx, q)
			out := make([]header, len(p.Items))
			for i, h := range p.Items {
				out[i] = header{h.InvoiceNumber, h.ChangedAt}
			}
			return out, p.TotalCount, err
		})
		if err != nil {
			return time.Time{}, err
		}
		if orders == nil || invoices == nil { // too many changes to list
			st.Since = now
		} else if !forget[erp.Order](ctx, rc, "order", orders, func(o erp.Order) string { return o.ChangedAt }) ||
			!forget[erp.Invoice](ctx, rc, "invoice", invoices, func(inv erp.Invoice) string { return inv.ChangedAt }) {
			st.Since = now
		}
	}
	st.Last = now
	if b, err := json.Marshal(st); err == nil {
		_ = rc.store.Set(ctx, sweepKey(), b, recordKeep)
	}
	return st.Since, nil
}

// header is a record's number and ChangedAt in a change list.
type header struct{ number, changedAt string }

// forget drops the kept records of kind whose ChangedAt differs from the
// listed one (a record kept since it was created is listed with the
// ChangedAt it has); false when the store failed.
func forget[T any](ctx context.Context, rc *recordCache, kind string, changed []header, changedAt func(T) string) bool {
	var drop []string
	for _, h := range changed {
		key := recordKey(kind, h.number)
		b, ok, err := rc.store.Get(ctx, key)
		if err != nil {
			return false
		}
		var k keptRecord[T]
		if ok && (json.Unmarshal(b, &k) != nil || changedAt(k.Record) != h.changedAt) {
			drop = append(drop, key)
		}
	}
	return len(drop) == 0 || rc.store.Delete(ctx, drop...) == nil
}

// changed lists the records changed since; nil (not an empty list) when
// there are more than sweepPages pages of them.
func changed(ctx context.Context, since time.Time, list func(erp.ListQuery) ([]header, int, error)) ([]header, error) {
	out := []header{}
	err := erp.EachPage(ctx, sweepPages, func(_ context.Context, page int) (erp.Page[header], error) {
		items, total, err := list(erp.ListQuery{ChangedSince: since, Page: page, PageSize: erp.MaxPageSize})
		return erp.Page[header]{Items: items, TotalCount: total}, err
	}, func(hs []header, _ int) error {
		out = append(out, hs...)
		return nil
	})
	if errors.Is(err, erp.ErrTooManyPages) {
		return nil, nil
	}
	return out, err
}

// order returns Extend's order numbered n: kept, or fetched and kept.
func (rc *recordCache) order(ctx context.Context, n string, trusted time.Time) (erp.Order, error) {
	return fetchKept(ctx, rc, "order", n, trusted, rc.erp.Order)
}

// invoice is order for an invoice.
func (rc *recordCache) invoice(ctx context.Context, n string, trusted time.Time) (erp.Invoice, error) {
	return fetchKept(ctx, rc, "invoice", n, trusted, rc.erp.Invoice)
}

func fetchKept[T any](ctx context.Context, rc *recordCache, kind, n string, trusted time.Time,
	fetch func(context.Context, string) (T, error)) (T, error) {
	key := recordKey(kind, n)
	if b, ok, err := rc.store.Get(ctx, key); err == nil && ok {
		var k keptRecord[T]
		if json.Unmarshal(b, &k) == nil && !k.Fetched.Before(trusted) {
			return k.Record, nil
		}
	}
	fetched := rc.now().UTC()
	v, err := fetch(ctx, n)
	if err != nil {
		return v, err
	}
	if b, err := json.Marshal(keptRecord[T]{Fetched: fetched, Record: v}); err == nil {
		_ = rc.store.Set(ctx, key, b, recordKeep)
	}
	rc.begin(ctx, fetched)
	return v, nil
}

// begin starts the change look-ups from t when none ran yet, so that a
// record kept before the first OrdersGet (one read as its order was
// created) is trusted by it.
func (rc *recordCache) begin(ctx context.Context, t time.Time) {
	if _, ok, err := rc.store.Get(ctx, sweepKey()); err != nil || ok {
		return
	}
	if b, err := json.Marshal(sweepState{Since: t, Last: t}); err == nil {
		_ = rc.store.Set(ctx, sweepKey(), b, recordKeep)
	}
}

// OrderChanged is told that Extend changed an order (a webhook): the kept
// record is dropped, so that OrdersGet reads it again. It never fails the
// webhook: a record it could not drop goes at the next change list.
func (c *Connector) OrderChanged(ctx context.Context, orderNumber string) error {
	_ = c.cache.store.Delete(ctx, recordKey("order", orderNumber))
	return nil
}

// InvoiceChanged is OrderChanged for an invoice.
func (c *Connector) InvoiceChanged(ctx context.Context, invoiceNumber string) error {
	_ = c.cache.store.Delete(ctx, recordKey("invoice", invoiceNumber))
	return nil
}
