package erp

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrTooManyPages is EachPage's error for a list longer than it reads
	// (a server that never says the list has ended).
	ErrTooManyPages = errors.New("erp: too many pages")
	// ErrStopPaging, returned by EachPage's use, ends the read early
	// without an error.
	ErrStopPaging = errors.New("erp: stop paging")
)

// EachPage reads a paged list from page 1, handing each page's items and
// the list's TotalCount to use, until a page comes back empty, TotalCount
// items were read, or use returns ErrStopPaging. A list longer than
// maxPages pages is ErrTooManyPages, after its first maxPages pages were
// used. Any other error of list or use ends it. It is the gateway's one
// paging loop over Extend's lists.
func EachPage[H any](ctx context.Context, maxPages int, list func(ctx context.Context, page int) (Page[H], error), use func(items []H, total int) error) error {
	read := 0
	for page := 1; page <= maxPages; page++ {
		p, err := list(ctx, page)
		if err != nil {
			return err
		}
		if err := use(p.Items, p.TotalCount); errors.Is(err, ErrStopPaging) {
			return nil
		} else if err != nil {
			return err
		}
		read += len(p.Items)
		if len(p.Items) == 0 || read >= p.TotalCount {
			return nil
		}
	}
	return fmt.Errorf("%w: more than %d", ErrTooManyPages, maxPages)
}
