package pull

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erp"
)

// Document is an invoice's PDF, whole, as GET /v1/documents/{token}
// sends it.
type Document struct {
	InvoiceNumber string
	// PDF is the file; it starts with %PDF-. It is shared with the cache
	// and other callers: do not modify it.
	PDF []byte
	// Cache is cache.Hit when the file came from this process's document
	// cache, cache.Miss when it was fetched from the ERP now.
	Cache string
}

// DefaultDocumentBytes bounds the document cache when
// Config.DocumentBytes is 0.
const DefaultDocumentBytes = 64 << 20 // 64 MiB

// newDocuments returns the cache of invoice PDFs: the cache engine over a
// Memory store of its own, bounded in bytes, and no Redis. A PDF is kept
// while the invoice answer whose pdf_link led to it is fresh
// (CACHE_TTL_DETAIL), so that opening it again costs no ERP call; a flush
// of its customer drops it on the replica that flushes. The files stay out
// of the answers' tiers on purpose: a PDF weighs as much as hundreds of
// answers, and in Redis it would be kept CACHE_STALE_FOR. So each replica
// keeps its own: with N replicas a PDF costs at most N fetches per
// CACHE_TTL_DETAIL.
func newDocuments(cfg Config, now func() time.Time) *cache.Cache {
	return cache.New(cache.Config{
		Memory: cache.NewMemory(cmp.Or(cfg.DocumentBytes, DefaultDocumentBytes)),
		Budget: cfg.Budget, Now: now,
	})
}

// Document returns the PDF behind a pdf_link token, whole. It returns
// ErrNotFound for a forged or expired token, or one whose invoice is not
// the named customer's; errors wrapping erp.ErrBadResponse when the ERP's
// file is not a PDF, erp.ErrTimeout when it did not arrive within the ERP
// budget (EXTEND_TIMEOUT), and the other erp errors. Concurrent requests
// for one file make one fetch.
func (s *Service) Document(ctx context.Context, token string) (Document, error) {
	customerNo, invoiceNo, err := s.links.Parse(token)
	if err != nil {
		return Document{}, ErrNotFound
	}
	e, o, err := s.docs.Get(ctx, s.kinds.document, keys.Document(customerNo, invoiceNo), func(ctx context.Context) ([]byte, error) {
		return s.fetchDocument(ctx, customerNo, invoiceNo)
	})
	if err != nil {
		return Document{}, err
	}
	return Document{InvoiceNumber: invoiceNo, PDF: e.Body, Cache: o.Result}, nil
}

// fetchDocument checks that invoiceNo is customerNo's (from the invoice
// record kept when its answer was built, else from the ERP) and fetches
// its PDF. The engine bounds it by the ERP budget.
func (s *Service) fetchDocument(ctx context.Context, customerNo, invoiceNo string) ([]byte, error) {
	var inv erp.Invoice
	if !s.reuse(ctx, keys.InvoiceRecord(invoiceNo), &inv) {
		var err error
		if inv, err = s.erp.Invoice(ctx, invoiceNo); err != nil {
			return nil, fmt.Errorf("pull: document %s: %w", invoiceNo, err)
		}
		s.keepRecord(ctx, keys.InvoiceRecord(inv.InvoiceNumber), inv)
	}
	if inv.CustomerNumber != customerNo {
		return nil, ErrNotFound
	}
	doc, err := s.erp.InvoicePDF(ctx, invoiceNo)
	if err != nil {
		return nil, fmt.Errorf("pull: document %s: %w", invoiceNo, err)
	}
	return doc.Data, nil
}
