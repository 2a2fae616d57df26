package pull

import (
	"context"
	"errors"
	"fmt"

	"github.com/vendre-extend/gateway/erp"
)

// eachPage reads a paged ERP list from page 1, handing each page's items,
// and the ERP's TotalCount, to use, until a page comes back empty, the
// TotalCount is read, or use returns errStop. A list longer than maxPages
// pages is an error (errTooManyPages), after its first maxPages pages
// were used. It is the pull service's one paging loop.
func eachPage[H any](ctx context.Context, maxPages int, list func(ctx context.Context, page int) (erp.Page[H], error), use func(items []H, total int) error) error {
	read := 0
	for page := 1; page <= maxPages; page++ {
		p, err := list(ctx, page)
		if err != nil {
			return err
		}
		if err := use(p.Items, p.TotalCount); errors.Is(err, errStop) {
			return nil
		} else if err != nil {
			return err
		}
		read += len(p.Items)
		if len(p.Items) == 0 || read >= p.TotalCount {
			return nil
		}
	}
	return fmt.Errorf("%w: more than %d", errTooManyPages, maxPages)
}

var (
	// errTooManyPages is eachPage's error for a list longer than it reads.
	errTooManyPages = errors.New("too many pages")
	// errStop, from eachPage's use, ends the read early, without an error.
	errStop = errors.New("stop paging")
)
