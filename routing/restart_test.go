package routing_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
)

// redisServer is a private redis-server with AOF persistence that a test
// can kill and restart on the same port and directory.
type redisServer struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not on PATH (install redis-server; scripts/test.sh needs it too): %v", err)
	}
	// A Unix socket in the test's own directory: a TCP port picked by
	// listen-and-close could be taken by another test's server while this
	// one restarts, and the nodes would reconnect to the wrong Redis.
	dir := t.TempDir()
	s := &redisServer{t: t, addr: dir + "/redis.sock", dir: dir}
	s.start(bin)
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			b, _ := os.ReadFile(s.dir + "/redis.log")
			t.Logf("redis-server log:\n%s", b)
		}
	})
	return s
}

func (s *redisServer) start(bin string) {
	s.t.Helper()
	s.cmd = exec.Command(bin, "--port", "0", "--unixsocket", s.addr, "--appendonly", "yes",
		"--dir", s.dir, "--save", "", "--daemonize", "no")
	logf, err := os.OpenFile(s.dir+"/redis.log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(s.t, err)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	must(s.t, s.cmd.Start())
	s.t.Cleanup(func() { _ = logf.Close() })
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.addr})
	defer c.Close()
	eventually(s.t, 10*time.Second, "redis-server answers", func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
}

// kill ends the server with SIGKILL: no shutdown, no final AOF rewrite.
func (s *redisServer) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *redisServer) restart() {
	s.t.Helper()
	s.kill()
	bin, _ := exec.LookPath("redis-server")
	s.start(bin)
}

// TestRedisRestart kills Redis under two nodes, restarts it from its AOF,
// and checks that the state read back is the state written, consistent,
// and that both nodes reconnect and route every call to its end.
func TestRedisRestart(t *testing.T) {
	srv := startRedisServer(t)
	ctx := ctxT(t)
	site := "restart"
	var routers []*routing.Router
	for _, node := range []string{"n1", "n2"} {
		// The client serve uses: its connections are not checked before
		// each command (OpenRedis), so every pooled one meets the restart.
		rdb, err := routing.OpenRedis(ctx, routing.RedisOptions{Addrs: []string{srv.addr}, PoolSize: 16})
		must(t, err)
		t.Cleanup(func() { _ = rdb.Close() })
		r := (&env{t: t, rdb: rdb, site: site}).router(node, func(c *routing.Config) { c.HeartbeatTTL = 30 * time.Second })
		routers = append(routers, r)
	}
	r1, r2 := routers[0], routers[1]
	check := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.addr})
	t.Cleanup(func() { _ = check.Close() })
	events := collect(t, r1)

	agents := ids("a", 10)
	must(t, r1.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: time.Hour, Members: members(agents...)}))
	for _, a := range agents {
		must(t, r2.Login(ctx, a, true))
	}
	calls := map[string]bool{}
	var ringing []*ringdesk.Placement
	var ringingIDs []string
	for i := range 30 {
		id := fmt.Sprintf("c%d", i)
		p, err := routers[i%2].Enqueue(ctx, &ringdesk.WaitingCall{ID: id, Queues: []string{"q"}, Priority: i % 3})
		must(t, err)
		calls[id] = true
		if p.Status == ringdesk.CallRinging {
			ringing = append(ringing, p)
			ringingIDs = append(ringingIDs, id)
		}
	}
	for i, p := range ringing[:5] {
		must(t, routers[0].Answer(ctx, ringingIDs[i], p.AgentID))
	}
	before := map[string]*ringdesk.RoutedCall{}
	for id := range calls {
		before[id] = callOf(t, r1, id)
	}
	mustConsistent(t, check, site)

	srv.kill()
	_, err := r1.Enqueue(ctx, &ringdesk.WaitingCall{ID: "during-outage", Queues: []string{"q"}})
	mustCode(t, err, ringdesk.EUNAVAILABLE)
	mustCode(t, r2.SetAway(ctx, agents[0], ringdesk.ReasonBreak), ringdesk.EUNAVAILABLE)
	time.Sleep(300 * time.Millisecond)
	srv.restart()

	// go-redis answers with the last dial error until its pool's background
	// dialer has reached the server again (about a second): the routers
	// report EUNAVAILABLE meanwhile, then work again by themselves.
	eventually(t, 20*time.Second, "both nodes reconnected", func() bool {
		for _, r := range routers {
			if _, err := r.FindCall(ctx, "c0"); err != nil {
				if ringdesk.ErrorCode(err) != ringdesk.EUNAVAILABLE {
					t.Fatalf("during reconnect: %v", err)
				}
				return false
			}
		}
		return true
	})
	// What the AOF gave back is what was acknowledged, and consistent.
	mustConsistent(t, check, site)
	for id, b := range before {
		var a *ringdesk.RoutedCall
		must(t, retry(func() (err error) { a, err = r1.FindCall(ctx, id); return err }))
		if a.Status != b.Status || a.AgentID != b.AgentID || a.Node != b.Node || !a.EnqueuedAt.Equal(b.EnqueuedAt) {
			t.Fatalf("call %s after restart = %+v, before = %+v", id, a, b)
		}
	}

	// Both nodes resume: their offers (buffered or arriving after the
	// restart through the reconnected notice readers) are answered and ended.
	l := &load{t: t, routers: routers, stopAgents: make(chan struct{}), answerAll: true}
	lctx, stop := context.WithCancel(context.Background())
	for _, r := range routers {
		l.wg.Add(1)
		go l.serveOffers(lctx, r)
	}
	for i := range 5 {
		must(t, retry(func() error { return r1.End(ctx, ringingIDs[i]) }))
	}
	// A call enqueued after the restart routes too.
	var p *ringdesk.Placement
	must(t, retry(func() (err error) {
		p, err = r2.Enqueue(ctx, &ringdesk.WaitingCall{ID: "after", Queues: []string{"q"}})
		return err
	}))
	calls["after"] = true
	if p.Status != ringdesk.CallWaiting && p.Status != ringdesk.CallRinging {
		t.Fatalf("placement after restart = %+v", p)
	}
	eventually(t, 20*time.Second, "every call completed after the restart", func() bool {
		for id := range calls {
			var c *ringdesk.RoutedCall
			must(t, retry(func() (err error) { c, err = r1.FindCall(ctx, id); return err }))
			if c.Status != ringdesk.CallEnded {
				return false
			}
		}
		return true
	})
	stop()
	l.wg.Wait()
	if l.unexpected.Load() > 0 {
		t.Fatalf("%d unexpected errors", l.unexpected.Load())
	}
	results := audit(t, events(lastEntry(t, check, site)), calls)
	for id, res := range results {
		if calls[id] && res != ringdesk.ResultCompleted {
			t.Fatalf("call %s ended %s, want completed (nobody hung up)", id, res)
		}
	}
	mustConsistent(t, check, site)
}
