package routing

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
)

// RedisOptions say how to reach Redis. One address is a single server;
// several addresses are a Cluster; MasterName selects Sentinel (the
// addresses are then the sentinels). That is go-redis's UniversalClient, so
// moving from one to another is a configuration change.
type RedisOptions struct {
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	DB         int
	// PoolSize is the most connections kept open (per node with
	// Cluster); 0 means DefaultPoolSize.
	PoolSize int
}

// DefaultPoolSize is the connection pool of OpenRedis. go-redis's own
// default, 10 per CPU (20 on two cores), starved the call path under load
// (500 calls/s, scripts/bench.sh callpath): hundreds of goroutines queued
// for a connection (desk publishes, enqueue, end) while each held one for
// a round trip. A bigger pool lets the round trips overlap; it cannot help
// once Redis's one thread is busy. Connections are cheap for Redis.
const DefaultPoolSize = 128

// Protocol is the RESP version the clients speak. Ringdesk uses nothing of
// RESP3 (no client-side caching, no push notifications), and go-redis pays
// for it on every command: a check for pending push frames before each
// one. RESP2 measured 11.0 against 13.1 µs of client CPU per EVALSHA (8
// goroutines, loopback).
const Protocol = 2

// OpenRedis connects to Redis and checks that it answers.
func OpenRedis(ctx context.Context, o RedisOptions) (redis.UniversalClient, error) {
	poolSize := o.PoolSize
	if poolSize <= 0 {
		poolSize = DefaultPoolSize
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:        o.Addrs,
		MasterName:   o.MasterName,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		DialTimeout:  redisDialTimeout,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		PoolSize:     poolSize,
		Protocol:     Protocol,
		Dialer:       dialRedis,
	})
	if err := PingRedis(ctx, rdb); err != nil {
		rdb.Close()
		return nil, err
	}
	return rdb, nil
}

// redisDialTimeout bounds connecting to Redis (dialRedis does the dialing,
// so go-redis's DialTimeout alone would not).
const redisDialTimeout = 3 * time.Second

// dialRedis dials as go-redis's own dialer does (timeout, TCP keep-alive
// probing a silent peer after 30 s) and hides the connection's file
// descriptor from go-redis. Its pool checks a connection it can reach the
// descriptor of before every command: a non-blocking recvfrom(MSG_PEEK)
// system call, 3-4 % of ringdesk's CPU at 500 calls/s (the call path runs
// about ten Redis commands per call). A connection Redis closed (a
// restart) then fails on its next use instead; go-redis retries the
// command on another connection (MaxRetries) and drops the dead one, and
// Redis never saw the failed attempt.
func dialRedis(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: redisDialTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return opaqueConn{c}, nil
}

// opaqueConn is a net.Conn without the underlying connection's other
// methods (syscall.Conn among them).
type opaqueConn struct{ net.Conn }

// PingRedis reports whether Redis answers, as EUNAVAILABLE when not.
func PingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return ringdesk.Errorf(ringdesk.EUNAVAILABLE, "Redis does not answer: %v", err)
	}
	return nil
}

// RedisPinger adapts a client to the health check of the web server.
type RedisPinger struct{ Client redis.UniversalClient }

// Ping implements ringdesk.Pinger.
func (p RedisPinger) Ping(ctx context.Context) error {
	if err := PingRedis(ctx, p.Client); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}
