package erp

import (
	"context"
	"errors"
	"fmt"
)

// ErrTooManyPages is EachPage's error for a list longer than it reads (a
// server that never says the list has ended).
var ErrTooManyPages = errors.New("erp: too many pages")

// EachPage reads a paged list from page 1, handing each page's items to
// use, until a page comes back empty or TotalCount items were read. A list
// longer than maxPages pages is ErrTooManyPages, after its first maxPages
// pages were used. An error of list or use ends it.
func EachPage[H any](ctx context.Context, maxPages int, list func(ctx context.Context, page int) (Page[H], error), use func([]H) error) error {
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
	return fmt.Errorf("%w: more than %d", ErrTooManyPages, maxPages)
}
