package pull

import (
	"context"
	"fmt"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp"
)

// A Finding is one answer Probe built, or one ERP read it could not make.
type Finding struct {
	// What names it: "order 123 (list row)", "order 123", "invoice list
	// page 2".
	What string
	// Err is nil when the answer fits its schema. Else it is the ERP's
	// error (an *erp.Error; a record that did not decode wraps a
	// *json.UnmarshalTypeError), ErrSchema wrapping the schema's
	// *schemas.ValidationError, or an error saying that the record is
	// another customer's.
	Err error
}

// probePages bounds a probe's read of one list (10,000 records).
const probePages = 100

// Probe checks what the pull calls answer for customerNo's orders and
// invoices dated from from to to (YYYY-MM-DD): it reads each list from the
// ERP page by page (erp.MaxPageSize a page), then each record on it, and
// builds from each record its list row (as a one-row list) and its single
// answer, mapped and checked against their schemas exactly as OrderList,
// Order, InvoiceList and Invoice build them. It neither reads nor fills
// the cache, and keeps going past a failure: found is told of every answer
// and every failed read, in order. Its ERP calls are background work
// (erp.Background): customers come first.
func (s *Service) Probe(ctx context.Context, customerNo, from, to string, found func(Finding)) {
	ctx = erp.WithClass(ctx, erp.Background)
	q := erp.ListQuery{CustomerNumber: customerNo, From: from, To: to, PageSize: erp.MaxPageSize}
	page := 0
	err := erp.EachPage(ctx, probePages, func(ctx context.Context, p int) (erp.Page[erp.OrderHeader], error) {
		q.Page, page = p, p
		return s.erp.OrderHeaders(ctx, q)
	}, func(hs []erp.OrderHeader, _ int) error {
		for _, h := range hs {
			s.probeOrder(ctx, customerNo, h.OrderNumber, found)
		}
		return nil
	})
	if err != nil {
		found(Finding{What: fmt.Sprintf("order list page %d", page), Err: err})
	}
	err = erp.EachPage(ctx, probePages, func(ctx context.Context, p int) (erp.Page[erp.InvoiceHeader], error) {
		q.Page, page = p, p
		return s.erp.InvoiceHeaders(ctx, q)
	}, func(hs []erp.InvoiceHeader, _ int) error {
		for _, h := range hs {
			s.probeInvoice(ctx, customerNo, h.InvoiceNumber, found)
		}
		return nil
	})
	if err != nil {
		found(Finding{What: fmt.Sprintf("invoice list page %d", page), Err: err})
	}
}

// probeOrder reads one order and checks its answers.
func (s *Service) probeOrder(ctx context.Context, customerNo, id string, found func(Finding)) {
	what := "order " + id
	o, err := s.erp.Order(ctx, id)
	if err != nil {
		found(Finding{What: what, Err: err})
		return
	}
	_, err = s.orderList([]api.OrderRow{s.mapper.OrderRow(o)}, 1, 1, 1)
	found(Finding{What: what + " (list row)", Err: err})
	_, err = s.order(o)
	found(Finding{What: what, Err: err})
	if o.CustomerNumber != customerNo {
		found(Finding{What: what, Err: fmt.Errorf("CustomerNumber %q is not %q", o.CustomerNumber, customerNo)})
	}
}

// probeInvoice reads one invoice and checks its answers.
func (s *Service) probeInvoice(ctx context.Context, customerNo, id string, found func(Finding)) {
	what := "invoice " + id
	inv, err := s.erp.Invoice(ctx, id)
	if err != nil {
		found(Finding{What: what, Err: err})
		return
	}
	_, err = s.invoiceList([]api.InvoiceRow{s.mapper.InvoiceRow(inv)}, 1, 1, 1)
	found(Finding{What: what + " (list row)", Err: err})
	_, err = s.invoice(inv, s.now().Add(time.Hour))
	found(Finding{What: what, Err: err})
	if inv.CustomerNumber != customerNo {
		found(Finding{What: what, Err: fmt.Errorf("CustomerNumber %q is not %q", inv.CustomerNumber, customerNo)})
	}
}
