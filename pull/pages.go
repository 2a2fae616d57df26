package pull

import (
	"context"
	"fmt"

	"github.com/vendre-extend/gateway/erp"
)

// eachPage reads a paged ERP list from page 1, handing each page's items to
// use, until a page comes back empty or the ERP's TotalCount is read. A
// list longer than maxPages pages is an error (errTooManyPages), after
// its first maxPages pages were used.
func eachPage[H any](ctx context.Context, maxPages int, list func(ctx context.Context, page int) (erp.Page[H], error), use func([]H) error) error {
	read := 0
	for page := 1; page <= maxPages; page++ {
		p, err := list(ctx, page)
		if err != nil {
			return err
		}
		if err := use(p.Items); err != nil {
			return err
		}
		read += len(p.Items)
		if len(p.Items) == 0 || read >= p.TotalCount {
			return nil
		}
	}
	return fmt.Errorf("%w: more than %d", errTooManyPages, maxPages)
}

// errTooManyPages is eachPage's error for a list longer than it reads.
var errTooManyPages = fmt.Errorf("too many pages")
