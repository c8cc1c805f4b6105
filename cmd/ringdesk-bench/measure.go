package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTick is USER_HZ, the unit of utime/stime in /proc/PID/stat: 100 on
// every Linux architecture Go runs on.
const clockTick = 100

// procCPU returns the user+system CPU time of pid and, with tree, of every
// live process whose parent is pid (Kamailio's workers).
func procCPU(pid int, tree bool) (time.Duration, error) {
	ticks, err := statTicks(pid)
	if err != nil {
		return 0, err
	}
	if tree {
		for _, c := range children(pid) {
			if t, err := statTicks(c); err == nil {
				ticks += t
			}
		}
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// statTicks reads utime+stime from /proc/PID/stat.
func statTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f, err := statFields(string(b))
	if err != nil {
		return 0, err
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 utime
	s, err2 := strconv.ParseInt(f[12], 10, 64) // field 15 stime
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return u + s, nil
}

// statFields splits /proc/PID/stat after the command name (which may hold
// spaces and parentheses): f[0] is field 3 (state).
func statFields(s string) ([]string, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("bad stat line")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("short stat line")
	}
	return f, nil
}

// children lists the live processes whose parent is pid.
func children(pid int) []int {
	ents, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, e := range ents {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		f, err := statFields(string(b))
		if err != nil {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(e)))
			out = append(out, n)
		}
	}
	return out
}

// procRSS returns VmRSS of pid and, with tree, the largest VmRSS among its
// children (Kamailio's processes share its memory: adding them up would
// count it several times).
func procRSS(pid int, tree bool) int64 {
	rss := vmRSS(pid)
	if tree {
		for _, c := range children(pid) {
			rss = max(rss, vmRSS(c))
		}
	}
	return rss
}

func vmRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// rssSampler keeps the largest RSS seen while it runs.
type rssSampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid int, tree bool) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			r := procRSS(pid, tree)
			s.mu.Lock()
			s.peak = max(s.peak, r)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) Stop() int64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// udpCounters are the kernel's UDP counters from /proc/net/snmp:
// machine-wide, so other programs' drops count too.
type udpCounters struct {
	InErrors, RcvbufErrors int64
}

func readUDPCounters() udpCounters {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return udpCounters{}
	}
	return parseSNMP(string(b))
}

func parseSNMP(s string) udpCounters {
	var names []string
	var c udpCounters
	for _, line := range strings.Split(s, "\n") {
		rest, ok := strings.CutPrefix(line, "Udp: ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if i >= len(f) {
				break
			}
			v, _ := strconv.ParseInt(f[i], 10, 64)
			switch n {
			case "InErrors":
				c.InErrors = v
			case "RcvbufErrors":
				c.RcvbufErrors = v
			}
		}
		break
	}
	return c
}

// socketDrops returns the drops counter of the UDP socket bound to
// 127.0.0.1:port (/proc/net/udp, last column): the datagrams the kernel
// threw away because that socket's receive buffer was full.
func socketDrops(port int) int64 {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0
	}
	return parseSocketDrops(string(b), port)
}

func parseSocketDrops(s string, port int) int64 {
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(s, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 13 || f[1] != local {
			continue
		}
		n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		return n
	}
	return 0
}

// hostCalibration times a fixed piece of CPU work on one thread (sorting
// the same 200,000 pseudo-random integers), the median of five runs, in
// ms. On a shared VM the same code ran a third slower from one hour to the
// next (stop 15): figures of two steps compare only at a like calibration.
func hostCalibration() float64 {
	src := make([]int, 200_000)
	x := uint32(2463534242)
	for i := range src {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		src[i] = int(x)
	}
	work := make([]int, len(src))
	var runs [5]time.Duration
	for i := range runs {
		copy(work, src)
		t0 := time.Now()
		slices.Sort(work)
		runs[i] = time.Since(t0)
	}
	slices.Sort(runs[:])
	return float64(runs[2].Microseconds()) / 1000
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// latency summarises a set of durations.
type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p * float64(len(s)-1))
		return ms(s[i])
	}
	return latency{N: len(s), P50: q(0.50), P99: q(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// listenerPID returns the pid of the process listening on TCP port (on
// any address), found through the socket's inode in /proc/net/tcp{,6} and
// the processes' file descriptors; 0 when none is visible (another user's
// process without root).
func listenerPID(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			x := strings.Fields(line)
			if len(x) < 10 || x[3] != "0A" { // LISTEN
				continue
			}
			_, p, ok := strings.Cut(x[1], ":")
			if n, err := strconv.ParseInt(p, 16, 32); ok && err == nil && int(n) == port {
				inodes["socket:["+x[9]+"]"] = true
			}
		}
	}
	return socketOwner(inodes)
}

// unixListenerPID is listenerPID for a Unix socket path (/proc/net/unix:
// Num RefCount Protocol Flags Type St Inode Path; a listener has the
// __SO_ACCEPTCON flag, 00010000).
func unixListenerPID(path string) int {
	inodes := map[string]bool{}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		x := strings.Fields(line)
		if len(x) >= 8 && x[7] == path && x[3] == "00010000" {
			inodes["socket:["+x[6]+"]"] = true
		}
	}
	return socketOwner(inodes)
}

// socketOwner returns the pid of a process holding one of the sockets
// ("socket:[inode]"), 0 when none is visible.
func socketOwner(inodes map[string]bool) int {
	if len(inodes) == 0 {
		return 0
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && inodes[l] {
			n, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return n
		}
	}
	return 0
}

// cpuOf adds up the CPU time of pids (0s skipped, gone ones count 0).
func cpuOf(pids ...int) time.Duration {
	var sum time.Duration
	for _, p := range pids {
		if p > 0 {
			if d, err := procCPU(p, false); err == nil {
				sum += d
			}
		}
	}
	return sum
}
