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
		rows := make([]api.OrderRow, 0, len(recs))
		for _, o := range recs {
			s.keepRecord(ctx, keys.OrderRecord(o.OrderNumber), o)
			if o.CustomerNumber != customerNo {
				s.log.Warn("erp listed a record of another customer; dropped", "order", o.OrderNumber, "customer_no", customerNo)
				continue
			}
			rows = append(rows, s.mapper.OrderRow(o))
		}
		return s.orderList(rows, q.Page, q.PerPage, page.TotalCount)
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
		return s.order(o)
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
		rows := make([]api.InvoiceRow, 0, len(recs))
		for _, inv := range recs {
			s.keepRecord(ctx, keys.InvoiceRecord(inv.InvoiceNumber), inv)
			if inv.CustomerNumber != customerNo {
				s.log.Warn("erp listed a record of another customer; dropped", "invoice", inv.InvoiceNumber, "customer_no", customerNo)
				continue
			}
			rows = append(rows, s.mapper.InvoiceRow(inv))
		}
		return s.invoiceList(rows, q.Page, q.PerPage, page.TotalCount)
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
		return s.invoice(inv, s.now().Add(s.cache.Lifetime(s.kinds.invoice)+time.Hour))
	})
}

// The answers built from ERP records, mapped to Vendre's shape and checked
// against their schemas; the calls above and Probe build them alike.

// orderList is GET /v1/orders's answer of rows.
func (s *Service) orderList(rows []api.OrderRow, page, perPage, total int) ([]byte, error) {
	return s.encode(schemas.OrderList, api.OrderList{Orders: rows, Page: page, PerPage: perPage, Total: total})
}

// order is GET /v1/orders/{id}'s answer of o.
func (s *Service) order(o erp.Order) ([]byte, error) {
	return s.encode(schemas.Order, s.mapper.Order(o))
}

// invoiceList is GET /v1/invoices's answer of rows.
func (s *Service) invoiceList(rows []api.InvoiceRow, page, perPage, total int) ([]byte, error) {
	return s.encode(schemas.InvoiceList, api.InvoiceList{Invoices: rows, Page: page, PerPage: perPage, Total: total})
}

// invoice is GET /v1/invoices/{id}'s answer of inv, its pdf_link (for
// inv's own customer) valid until expires.
func (s *Service) invoice(inv erp.Invoice, expires time.Time) ([]byte, error) {
	return s.encode(schemas.Invoice, s.mapper.Invoice(inv, s.links.Link(inv.CustomerNumber, inv.InvoiceNumber, expires)))
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
