package orders

import (
	"context"
	"encoding/json"
)

// maxPasses bounds the passes of one pagedPoll.
const maxPasses = 5

// pagedPoll emits, once each, the orders of a paged list of waiting
// orders: fetch reads page (from 1) and says whether another may follow;
// idOf names an order ("" to skip it). Orders imported while it pages
// leave the list and shift the pages behind them, so a pass over more
// than one page may miss some: it starts over while a pass found orders
// the passes before had not, at most maxPasses times.
func pagedPoll(ctx context.Context, fetch func(ctx context.Context, page int) ([]json.RawMessage, bool, error),
	idOf func(json.RawMessage) string, emit func(id string, payload []byte) error) error {
	seen := map[string]bool{}
	for range maxPasses {
		fresh, full := 0, 0
		for page := 1; ; page++ {
			raws, more, err := fetch(ctx, page)
			if err != nil {
				return err
			}
			if len(raws) > 0 {
				full++
			}
			for _, raw := range raws {
				id := idOf(raw)
				if id == "" || seen[id] {
					continue // not an order we can name (it stays waiting), or emitted already
				}
				seen[id] = true
				fresh++
				if err := emit(id, raw); err != nil {
					return err
				}
			}
			if !more || len(raws) == 0 {
				break
			}
		}
		if fresh == 0 || full <= 1 {
			return nil // nothing new, or one page: nothing can have been skipped
		}
	}
	return nil
}
