package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix is the namespace [NewRedis] uses when given "".
const DefaultRedisPrefix = "gw:"

// scanCount is the COUNT hint given to SCAN, and the most keys removed by
// one UNLINK in DeletePrefix.
const scanCount = 1000

// Redis is a [Store] kept in Redis. Every key is stored as prefix+key, so a
// Redis shared with other applications is never read or changed outside
// that prefix: DeletePrefix walks the keys with SCAN and removes them with
// UNLINK, and never uses KEYS or FLUSHDB. It is safe for concurrent use.
//
// Errors are wrapped as "cache: <op>: ..." and wrap [ErrUnavailable] when
// Redis cannot be reached; they never name the key or the server's
// credentials.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedis returns a Redis store that uses rdb and stores every key under
// prefix ([DefaultRedisPrefix] when prefix is ""). The caller owns rdb and
// closes it.
//
// rdb may be a *redis.Client, a *redis.Ring or a *redis.ClusterClient;
// DeletePrefix then scans every shard or master.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{rdb: rdb, prefix: prefix}
}

// Get implements [Store.Get]. It returns an error wrapping [ErrUnavailable]
// when Redis cannot be reached.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	val, err := r.rdb.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap(ctx, "get", err)
	}
	return val, true, nil
}

// Set implements [Store.Set]; a ttl below Redis's resolution of one
// millisecond is rounded up to it. It returns an error wrapping
// [ErrUnavailable] when Redis cannot be reached.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	switch {
	case ttl < 0:
		ttl = 0 // go-redis reads -1 as KEEPTTL; ours means no expiry
	case ttl > 0 && ttl < time.Millisecond:
		ttl = time.Millisecond
	}
	if err := r.rdb.Set(ctx, r.prefix+key, val, ttl).Err(); err != nil {
		return wrap(ctx, "set", err)
	}
	return nil
}

// Delete implements [Store.Delete] with UNLINK (memory is freed in the
// background). It returns an error wrapping [ErrUnavailable] when Redis
// cannot be reached.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	_, isCluster := r.rdb.(*redis.ClusterClient)
	if _, err := unlink(ctx, r.rdb, full, isCluster); err != nil {
		return wrap(ctx, "delete", err)
	}
	return nil
}

// DeletePrefix implements [Store.DeletePrefix]: it walks the matching keys
// with SCAN (MATCH on the escaped prefix, COUNT 1000) and removes them with
// UNLINK in batches of at most 1000. Keys written while it runs may
// survive. On an error some keys may already be gone; the count returned
// with the error says how many. The error wraps [ErrUnavailable] when Redis
// cannot be reached.
func (r *Redis) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	match := escapeGlob(r.prefix+prefix) + "*"
	var n atomic.Int64
	var err error
	switch c := r.rdb.(type) {
	case *redis.ClusterClient:
		// A multi-key UNLINK must stay within one hash slot: delete key by key.
		err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return deleteMatching(ctx, node, match, true, &n)
		})
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, shard *redis.Client) error {
			return deleteMatching(ctx, shard, match, false, &n)
		})
	default:
		err = deleteMatching(ctx, r.rdb, match, false, &n)
	}
	if err != nil {
		return int(n.Load()), wrap(ctx, "delete prefix", err)
	}
	return int(n.Load()), nil
}

// Ping implements [Store.Ping]. It returns an error wrapping
// [ErrUnavailable] when Redis cannot be reached.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return wrap(ctx, "ping", err)
	}
	return nil
}

// deleteMatching removes the keys of one server that match the SCAN
// pattern match, adding the number removed to n.
func deleteMatching(ctx context.Context, c redis.Cmdable, match string, perKey bool, n *atomic.Int64) error {
	batch := make([]string, 0, scanCount)
	flush := func() error {
		removed, err := unlink(ctx, c, batch, perKey)
		n.Add(removed)
		batch = batch[:0]
		return err
	}
	it := c.Scan(ctx, 0, match, scanCount).Iterator()
	for it.Next(ctx) {
		batch = append(batch, it.Val())
		if len(batch) == scanCount {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return flush()
	}
	return nil
}

// unlink removes keys and returns how many existed. With perKey it sends
// one UNLINK per key in a pipeline, as Redis Cluster requires for keys of
// different hash slots.
func unlink(ctx context.Context, c redis.Cmdable, keys []string, perKey bool) (int64, error) {
	if !perKey || len(keys) == 1 {
		return c.Unlink(ctx, keys...).Result()
	}
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Unlink(ctx, k)
		}
		return nil
	})
	var n int64
	for _, cmd := range cmds {
		if ic, ok := cmd.(*redis.IntCmd); ok {
			n += ic.Val()
		}
	}
	return n, err
}

// escapeGlob escapes the characters that SCAN's MATCH pattern treats
// specially, so that s matches only itself.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// wrap adds the operation to a Redis error, and ErrUnavailable when the
// error says that Redis cannot serve. A failure caused by ctx ending is the
// caller's, not Redis's, and is not marked unavailable.
func wrap(ctx context.Context, op string, err error) error {
	if ctx.Err() == nil && unavailable(err) {
		return fmt.Errorf("cache: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("cache: %s: %w", op, err)
}

// unavailable reports whether err is a connection-level failure, or a
// Redis reply saying that the server cannot serve right now. A pool
// timeout is not one: it means this process has more requests in flight
// than connections (a burst), not that Redis is away.
func unavailable(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, redis.ErrClosed),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne):
		return true
	}
	for _, p := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}
