// Package cache is the gateway's cache engine: it keeps finished answers
// and raw ERP records, and decides what is served, what is built, and what
// a flush retires. Its callers know keys and how to build a value; they do
// not know tiers.
//
//	c := cache.New(cache.Config{Memory: cache.NewMemory(0), Redis: cache.NewRedis(rdb, ""), ...})
//	entry, outcome, err := c.Get(ctx, kind, key, build)
//	n, err := c.Flush(ctx, cache.Customer("10001"))
//
// The files, one concern each:
//   - cache.go: the API and the policy (freshness, stale-while-revalidate,
//     stale-if-error, coalescing), in Get and resolve;
//   - feed.go: freshness from announcements, which keeps tracked kinds
//     fresh past their TTL while every change is announced (Confirm);
//   - flush.go: how a flush works, on one replica and across replicas,
//     and through a Redis that lost its data;
//   - tiers.go: the two tiers, the Memory store of this replica in front
//     of the Redis that every replica shares, and the lock one replica
//     takes to fill a key while the others wait;
//   - health.go: whether Redis is down, the gateway's one notion of it;
//   - keys.go: every key; memory.go, redis.go, shared.go: the stores.
//
// Without Redis (demo mode, one replica) the Memory store is the cache.
// When Redis fails, the gateway keeps answering from Memory and the ERP.
package cache
