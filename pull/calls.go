package pull

import (
	"context"
	"errors"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/schemas"
)

// OrderList answers GET /v1/orders.
func (s *Service) OrderList(ctx context.Context, customerNo string, q ListQuery) (Answer, error) {
	key := keys.OrderList(customerNo, q.From, q.To, q.Page, q.PerPage)
	return s.serve(ctx, s.kinds.orders, key, func(ctx context.Context) ([]byte, error) {
		page, err := s.erp.OrderHeaders(ctx, erp.ListQuery{CustomerNumber: customerNo, From: q.From, To: q.To, Page: q.Page, PageSize: q.PerPage})
		if err != nil && !errors.Is(err, erp.ErrNotFound) {
			return nil, err
		}
		recs, err := s.erp.Orders(ctx, page.Items, s.reuseOrder(ctx))
		if err != nil {
			return nil, err
		}
		out := api.OrderList{Orders: make([]api.OrderRow, 0, len(recs)), Page: q.Page, PerPage: q.PerPage, Total: page.TotalCount}
		for _, o := range recs {
			s.keepRecord(ctx, keys.OrderRecord(o.OrderNumber), o)
			if o.CustomerNumber != customerNo {
				s.log.Warn("erp listed a record of another customer; dropped", "order", o.OrderNumber, "customer_no", customerNo)
				continue
			}
			out.Orders = append(out.Orders, s.mapper.OrderRow(o))
		}
		return s.encode(schemas.OrderList, out)
	})
}

// Order answers GET /v1/orders/{id}. It returns ErrNotFound for an order
// that is missing or belongs to another customer.
func (s *Service) Order(ctx context.Context, customerNo, id string) (Answer, error) {
	return s.serve(ctx, s.kinds.order, keys.Order(customerNo, id), func(ctx context.Context) ([]byte, error) {
		var o erp.Order
		if !s.current(ctx, keys.OrderRecord(id), &o) {
			var err error
			if o, err = s.erp.Order(ctx, id); err != nil {
				return nil, err
			}
			s.keepRecord(ctx, keys.OrderRecord(o.OrderNumber), o)
		}
		if o.CustomerNumber != customerNo {
			return nil, ErrNotFound
		}
		return s.encode(schemas.Order, s.mapper.Order(o))
	})
}

// InvoiceList answers GET /v1/invoices.
func (s *Service) InvoiceList(ctx context.Context, customerNo string, q ListQuery) (Answer, error) {
	key := keys.InvoiceList(customerNo, s.mapper.Today(), q.From, q.To, q.Page, q.PerPage)
	return s.serve(ctx, s.kinds.invoices, key, func(ctx context.Context) ([]byte, error) {
		page, err := s.erp.InvoiceHeaders(ctx, erp.ListQuery{CustomerNumber: customerNo, From: q.From, To: q.To, Page: q.Page, PageSize: q.PerPage})
		if err != nil && !errors.Is(err, erp.ErrNotFound) {
			return nil, err
		}
		recs, err := s.erp.Invoices(ctx, page.Items, s.reuseInvoice(ctx))
		if err != nil {
			return nil, err
		}
		out := api.InvoiceList{Invoices: make([]api.InvoiceRow, 0, len(recs)), Page: q.Page, PerPage: q.PerPage, Total: page.TotalCount}
		for _, inv := range recs {
			s.keepRecord(ctx, keys.InvoiceRecord(inv.InvoiceNumber), inv)
			if inv.CustomerNumber != customerNo {
				s.log.Warn("erp listed a record of another customer; dropped", "invoice", inv.InvoiceNumber, "customer_no", customerNo)
				continue
			}
			out.Invoices = append(out.Invoices, s.mapper.InvoiceRow(inv))
		}
		return s.encode(schemas.InvoiceList, out)
	})
}

// Invoice answers GET /v1/invoices/{id}. It returns ErrNotFound for an
// invoice that is missing or belongs to another customer.
func (s *Service) Invoice(ctx context.Context, customerNo, id string) (Answer, error) {
	return s.serve(ctx, s.kinds.invoice, keys.Invoice(customerNo, s.mapper.Today(), id), func(ctx context.Context) ([]byte, error) {
		var inv erp.Invoice
		if !s.current(ctx, keys.InvoiceRecord(id), &inv) {
			var err error
			if inv, err = s.erp.Invoice(ctx, id); err != nil {
				return nil, err
			}
			s.keepRecord(ctx, keys.InvoiceRecord(inv.InvoiceNumber), inv)
		}
		if inv.CustomerNumber != customerNo {
			return nil, ErrNotFound
		}
		// The link must outlive every copy of this answer, stale ones too.
		expires := s.now().Add(s.cache.Lifetime(s.kinds.invoice) + time.Hour)
		return s.encode(schemas.Invoice, s.mapper.Invoice(inv, s.links.Link(customerNo, inv.InvoiceNumber, expires)))
	})
}

// FlushCustomer makes every cached answer of customerNo fresh on its next
// read, on every replica, and returns how many cache entries it retired
// (cache.Cache.Flush). An error wraps cache.ErrUnavailable when Redis
// cannot be reached.
func (s *Service) FlushCustomer(ctx context.Context, customerNo string) (int, error) {
	_, _ = s.docs.Flush(ctx, cache.Customer(customerNo)) // never fails: Memory alone
	return s.cache.Flush(ctx, cache.Customer(customerNo))
}

// FlushAll makes every cached answer and record fresh on its next read, on
// every replica, like FlushCustomer.
func (s *Service) FlushAll(ctx context.Context) (int, error) {
	_, _ = s.docs.Flush(ctx, cache.All) // never fails: Memory alone
	return s.cache.Flush(ctx, cache.All)
}
