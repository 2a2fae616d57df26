package cache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisURL is REDIS_URL, read: one Redis server (a primary, with replicas
// behind a managed failover if the operator likes), or a Redis Cluster.
// Its zero value names nothing; get one from [ParseRedisURL].
type RedisURL struct {
	single  *redis.Options
	cluster *redis.ClusterOptions
}

// ParseRedisURL reads raw in one of go-redis's two URL forms:
//
//	redis://[user:password@]host:port/db        one server (also rediss://, unix:///path)
//	redis://[user:password@]host1:port1?addr=host2:port2&addr=host3:port3
//	                                            a Redis Cluster
//
// A URL with addr parameters names a cluster: its addresses are where the
// gateway first asks for the cluster's layout, not necessarily every node,
// and a cluster has only database 0. Other query parameters are go-redis's
// (dial_timeout, pool_size...). The error never quotes raw, which may hold
// a password.
func ParseRedisURL(raw string) (RedisURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return RedisURL{}, errors.New("not a URL")
	}
	if !u.Query().Has("addr") {
		o, err := redis.ParseURL(raw)
		if err != nil {
			return RedisURL{}, urlError(err)
		}
		return RedisURL{single: o}, nil
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return RedisURL{}, fmt.Errorf("a cluster is redis:// or rediss://, not %s://", u.Scheme)
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		return RedisURL{}, errors.New("a Redis Cluster has only database 0")
	}
	o, err := redis.ParseClusterURL(raw)
	if err != nil {
		return RedisURL{}, urlError(err)
	}
	return RedisURL{cluster: o}, nil
}

// urlError is go-redis's complaint about a URL, without its "redis: "
// prefix. go-redis names the part it rejects, never the password.
func urlError(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), "redis: "))
}

// Cluster reports whether u names a Redis Cluster.
func (u RedisURL) Cluster() bool { return u.cluster != nil }

// Addrs returns the addresses u names (for the start-up log: no
// credentials).
func (u RedisURL) Addrs() []string {
	switch {
	case u.cluster != nil:
		return u.cluster.Addrs
	case u.single != nil:
		return []string{u.single.Addr}
	}
	return nil
}

// Timeouts tune a client made by [RedisURL.Open]; a zero field keeps
// what the URL or go-redis set.
type Timeouts struct {
	Dial, Read, Write         time.Duration
	DialerRetries, MaxRetries int
}

// Open returns a client for u, and the error of a first PING bounded by
// ctx: a client is returned even then, since the gateway serves while
// Redis is away. The client is a *redis.Client, or a *redis.ClusterClient
// for a cluster. A one-server URL that turns out to name a node of a Redis
// Cluster is opened as that cluster, seeded with the node: a managed
// cluster is often given by one configuration address. The caller closes
// the client.
func (u RedisURL) Open(ctx context.Context, t Timeouts) (redis.UniversalClient, error) {
	if u.cluster != nil {
		rdb := redis.NewClusterClient(u.clusterOptions(t))
		return rdb, rdb.Ping(ctx).Err()
	}
	if u.single == nil {
		return nil, errors.New("cache: no Redis URL")
	}
	o := *u.single
	set(&o.DialTimeout, t.Dial)
	set(&o.ReadTimeout, t.Read)
	set(&o.WriteTimeout, t.Write)
	set(&o.DialerRetries, t.DialerRetries)
	set(&o.MaxRetries, t.MaxRetries)
	rdb := redis.NewClient(&o)
	if err := rdb.Ping(ctx).Err(); err != nil {
		return rdb, err
	}
	if o.Network != "unix" && clusterNode(ctx, rdb) {
		rdb.Close()
		c := RedisURL{cluster: &redis.ClusterOptions{Addrs: []string{o.Addr}, Username: o.Username,
			Password: o.Password, TLSConfig: o.TLSConfig, Protocol: o.Protocol, ClientName: o.ClientName,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			DialerRetries: o.DialerRetries, MaxRetries: o.MaxRetries, PoolSize: o.PoolSize}}
		return c.Open(ctx, t)
	}
	return rdb, nil
}

// ClusterStateReload is how often a cluster client reads the slot map
// again. A master that dies answers nothing, so no MOVED reply tells
// go-redis that its replica took over; with go-redis's own interval (60 s)
// the slots of a failed-over master would stay unreachable, webhooks
// answering 503, for up to a minute after the promotion. Once a second
// costs one CLUSTER SLOTS per gateway replica a second.
const ClusterStateReload = time.Second

// clusterOptions are u's cluster options tuned by t.
func (u RedisURL) clusterOptions(t Timeouts) *redis.ClusterOptions {
	o := *u.cluster
	if o.ClusterStateReloadInterval == 0 {
		o.ClusterStateReloadInterval = ClusterStateReload
	}
	set(&o.DialTimeout, t.Dial)
	set(&o.ReadTimeout, t.Read)
	set(&o.WriteTimeout, t.Write)
	set(&o.DialerRetries, t.DialerRetries)
	set(&o.MaxRetries, t.MaxRetries)
	return &o
}

// set sets *p to v unless v is zero.
func set[T comparable](p *T, v T) {
	var zero T
	if v != zero {
		*p = v
	}
}

// clusterNode reports whether rdb's server runs in cluster mode.
func clusterNode(ctx context.Context, rdb *redis.Client) bool {
	s, err := rdb.Info(ctx, "cluster").Result()
	return err == nil && strings.Contains(s, "cluster_enabled:1")
}
