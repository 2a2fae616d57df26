package erp

import (
	"context"
	"errors"
	"testing"
)

func TestEachPage(t *testing.T) {
	tests := []struct {
		name      string
		total     int // TotalCount the server reports
		pages     int // pages that hold items, 2 each
		maxPages  int
		wantItems int
		wantCalls int
		wantErr   error
	}{
		{"ends at TotalCount", 5, 3, 10, 5, 3, nil},
		{"ends at an empty page", 100, 2, 10, 4, 3, nil},
		{"never ends", 1 << 30, 1 << 30, 4, 8, 4, ErrTooManyPages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, items := 0, 0
			list := func(_ context.Context, page int) (Page[int], error) {
				calls++
				p := Page[int]{Page: page, TotalCount: tt.total}
				if page <= tt.pages {
					p.Items = []int{1, 2}
					if page*2 > tt.total {
						p.Items = p.Items[:1]
					}
				}
				return p, nil
			}
			err := EachPage(context.Background(), tt.maxPages, list, func(xs []int, _ int) error { items += len(xs); return nil })
			if !errors.Is(err, tt.wantErr) || items != tt.wantItems || calls != tt.wantCalls {
				t.Errorf("EachPage = %v after %d items in %d calls; want %v, %d items, %d calls", err, items, calls, tt.wantErr, tt.wantItems, tt.wantCalls)
			}
		})
	}
}
