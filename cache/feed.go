package cache

import (
	"context"
	"fmt"
	"time"
)

// Freshness from announcements. An entry of a tracked kind (Kind.Tracked)
// is built from ERP records whose every change is announced: the caller
// retires the entries a change touches (Retire, flush.go) and tells the
// cache how far the announcements have come (Confirm). Such an entry, not
// retired, is current as of the feed's Through; it is served as fresh past
// its TTL while Through is within FeedLag of now, so it is never more than
// FeedLag behind the ERP. An entry built before the feed's From (when the
// announcements were not yet followed, or after a gap) is not vouched for:
// it keeps its TTL alone. With Redis, the feed is kept there (Keys.Feed)
// and every replica reads it once a second (Run).

// freshFor is how long an entry of kind built at built stays fresh after
// now (<= 0: stale): its TTL, or, for a tracked kind built since the
// change announcements began, for as long as they keep up (Confirm).
func (c *Cache) freshFor(kind Kind, built, now time.Time) time.Duration {
	left := built.Add(kind.TTL).Sub(now)
	if kind.Tracked && c.feedLag > 0 {
		if f := c.feed.Load(); f != nil && !built.Before(f.From) {
			left = max(left, f.Through.Add(c.feedLag).Sub(now))
		}
	}
	return left
}

// Feed is how far the announcements of changes in the ERP have come:
// every change made between From and Through has been announced (Retire).
// An entry of a tracked kind built since From that was not retired is
// current as of Through.
type Feed struct {
	From, Through time.Time
}

// Confirm tells the cache that every change in the ERP made between from
// and through has been announced (Retire). When from is within the feed
// so far, the feed now reaches through; otherwise (a gap, as after a
// restart) it starts again at from, and entries built before that are no
// longer vouched for. With Redis every replica learns it within a second.
// The error wraps ErrUnavailable when Redis cannot be reached; this
// replica knows it even then.
func (c *Cache) Confirm(ctx context.Context, from, through time.Time) error {
	f := Feed{From: from, Through: through}
	if c.redis != nil {
		r, err := c.redis.ExtendFeed(ctx, Keys{}.Feed(), from.UnixMilli(), through.UnixMilli())
		c.health.observe("confirm", err)
		if err != nil {
			c.setFeed(f)
			return fmt.Errorf("cache: confirm: %w", err)
		}
		f = Feed{From: time.UnixMilli(r[0]), Through: time.UnixMilli(r[1])}
	}
	c.setFeed(f)
	return nil
}

// setFeed extends the feed this replica knows with f: the same rule as
// Confirm's.
func (c *Cache) setFeed(f Feed) {
	for {
		old := c.feed.Load()
		next := f
		if old != nil && !f.From.After(old.Through) {
			if !f.Through.After(old.Through) && !old.From.After(f.From) {
				return // nothing new
			}
			next = Feed{From: old.From, Through: f.Through}
			if old.Through.After(f.Through) {
				next.Through = old.Through
			}
			if f.From.Before(old.From) {
				next.From = f.From
			}
		}
		if c.feed.CompareAndSwap(old, &next) {
			return
		}
	}
}

// Confirmed is the time up to which every change in the ERP is known to
// have been announced, as this replica knows it; zero when never.
func (c *Cache) Confirmed() time.Time {
	if f := c.feed.Load(); f != nil {
		return f.Through
	}
	return time.Time{}
}

// Feed returns how far the change announcements have come, as Redis
// (read now) or, without Redis, this process knows it; the zero Feed when
// they never began, or Redis lost its data. The error wraps
// ErrUnavailable when Redis cannot be reached.
func (c *Cache) Feed(ctx context.Context) (Feed, error) {
	if c.redis != nil {
		r, err := c.redis.ReadFeed(ctx, Keys{}.Feed())
		c.health.observe("feed", err)
		if err != nil {
			return Feed{}, fmt.Errorf("cache: feed: %w", err)
		}
		if r[1] == 0 {
			return Feed{}, nil
		}
		f := Feed{From: time.UnixMilli(r[0]), Through: time.UnixMilli(r[1])}
		c.setFeed(f)
		return f, nil
	}
	if f := c.feed.Load(); f != nil {
		return *f, nil
	}
	return Feed{}, nil
}
