package main

import (
	"bufio"
	"context"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed scenarios/*.xml
var scenarios embed.FS

// writeScenarios copies the sipp scenarios into dir.
func writeScenarios(dir string) error {
	ents, err := scenarios.ReadDir("scenarios")
	if err != nil {
		return err
	}
	for _, e := range ents {
		b, err := scenarios.ReadFile("scenarios/" + e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// child is a process the bench started: stopped with SIGTERM (then
// SIGKILL), and killed by the kernel if the bench itself dies.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startChild(name string, cmd *exec.Cmd, out io.Writer) (*child, error) {
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) Pid() int { return c.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (c *child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to end by itself, or until ctx is done.
func (c *child) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the process: SIGTERM, then SIGKILL after grace.
func (c *child) Stop(grace time.Duration) error {
	if c == nil || c.Exited() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(grace):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	return fmt.Errorf("%s did not stop within %s: killed", c.name, grace)
}

// freeUDPPort and freeTCPPort return a port free on 127.0.0.1 just now.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeInjection writes a sipp -inf file: one row per call, fields
// separated by ';'.
func writeInjection(path string, rows [][]string) error {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, r := range rows {
		b.WriteString(strings.Join(r, ";"))
		b.WriteString(";\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// sippStats is what a caller's sipp reports at its end (-trace_stat).
type sippStats struct {
	Outgoing        int     `json:"outgoing"`
	Successful      int     `json:"successful"`
	Failed          int     `json:"failed"`
	Current         int     `json:"current"` // still open when sipp ended (timed out)
	Retransmissions int     `json:"retransmissions"`
	FailedTimeout   int     `json:"failed_timeout_on_recv"`
	FailedUnexpect  int     `json:"failed_unexpected_msg"`
	FailedRetrans   int     `json:"failed_max_udp_retrans"`
	CreateSeconds   float64 `json:"create_seconds"` // when the last call was created (1 s resolution)
}

// parseSippStats reads the last row of a -trace_stat file, and the first
// row where every call had been created.
func parseSippStats(path string) (sippStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return sippStats{}, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return sippStats{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(rows) < 2 {
		return sippStats{}, fmt.Errorf("%s: no statistics", path)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	get := func(row []string, name string) int {
		i, ok := col[name]
		if !ok || i >= len(row) {
			return 0
		}
		n, _ := strconv.Atoi(strings.TrimSpace(row[i]))
		return n
	}
	last := rows[len(rows)-1]
	st := sippStats{
		Outgoing: get(last, "OutgoingCall(C)"), Successful: get(last, "SuccessfulCall(C)"), Failed: get(last, "FailedCall(C)"),
		Current: get(last, "CurrentCall"), Retransmissions: get(last, "Retransmissions(C)"),
		FailedTimeout: get(last, "FailedTimeoutOnRecv(C)"), FailedUnexpect: get(last, "FailedUnexpectedMessage(C)"),
		FailedRetrans: get(last, "FailedMaxUDPRetrans(C)"),
	}
	for _, row := range rows[1:] {
		if get(row, "OutgoingCall(C)") >= st.Outgoing && st.Outgoing > 0 {
			st.CreateSeconds = parseElapsed(row[col["ElapsedTime(C)"]])
			break
		}
	}
	return st, nil
}

// parseElapsed reads sipp's "HH:MM:SS" or "HH:MM:SS:mmmmmm".
func parseElapsed(s string) float64 {
	p := strings.Split(strings.TrimSpace(s), ":")
	if len(p) < 3 {
		return 0
	}
	h, _ := strconv.Atoi(p[0])
	m, _ := strconv.Atoi(p[1])
	sec, _ := strconv.Atoi(p[2])
	v := float64(h*3600 + m*60 + sec)
	if len(p) > 3 {
		us, _ := strconv.Atoi(p[3])
		v += float64(us) / 1e6
	}
	return v
}

// sentRE finds the caller's send time (epoch.microseconds) at the end of
// a display name made from sipp's [timestamp]. Ringdesk strips control
// characters from caller names, so the tab before it may be gone.
var sentRE = regexp.MustCompile(`([0-9]{10})\.([0-9]{6})$`)

// sentTime extracts the send time from a caller name.
func sentTime(name string) (time.Time, bool) {
	m := sentRE.FindStringSubmatch(strings.TrimSpace(strings.Trim(name, `"`)))
	if m == nil {
		return time.Time{}, false
	}
	sec, _ := strconv.ParseInt(m[1], 10, 64)
	us, _ := strconv.ParseInt(m[2], 10, 64)
	return time.Unix(sec, us*1000), true
}

// epochRE matches sipp's epoch.microseconds.
var epochRE = regexp.MustCompile(`^[0-9]{10}\.[0-9]{6}$`)

// agentLogLatencies reads the phones' -trace_logs lines written since
// offset ("INV <date> <time> <epoch> SENT <epoch>") and returns the time
// from the caller's INVITE to the agent's, and the new offset.
func agentLogLatencies(path string, offset int64) ([]time.Duration, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, offset, nil
	}
	if err != nil {
		return nil, offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, err
	}
	var out []time.Duration
	rd := bufio.NewReader(f)
	pos := offset
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			break // a partial last line is read next time
		}
		pos += int64(len(line))
		if d, ok := parseAgentLogLine(line); ok {
			out = append(out, d)
		}
	}
	return out, pos, nil
}

func parseAgentLogLine(line string) (time.Duration, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || f[0] != "INV" {
		return 0, false
	}
	var recv, sent string
	for i, x := range f {
		if x == "SENT" && i+1 < len(f) {
			sent = f[i+1]
			if i > 0 {
				recv = f[i-1]
			}
		}
	}
	if !epochRE.MatchString(recv) || !epochRE.MatchString(sent) {
		return 0, false
	}
	r, _ := strconv.ParseFloat(recv, 64)
	s, _ := strconv.ParseFloat(sent, 64)
	// Both have microseconds; float64 keeps them at this magnitude.
	return time.Duration((r - s) * 1e9).Round(time.Microsecond), true
}

// ringdeskTimings reads ringdesk's log lines since offset: the "agent
// rung" line carries ringdesk's own INVITE→pop and pop→agent-INVITE times.
func ringdeskTimings(path string, offset int64) (toPop, toRing []time.Duration, next int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, nil, offset, err
	}
	rd := bufio.NewReaderSize(f, 1<<20)
	pos := offset
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			break
		}
		pos += int64(len(line))
		if !strings.Contains(line, `msg="agent rung"`) {
			continue
		}
		p, ok1 := logDuration(line, "invite_to_pop=")
		r, ok2 := logDuration(line, "pop_to_ring=")
		if ok1 && ok2 {
			toPop = append(toPop, p)
			toRing = append(toRing, p+r)
		}
	}
	return toPop, toRing, pos, nil
}

func logDuration(line, key string) (time.Duration, bool) {
	i := strings.Index(line, key)
	if i < 0 {
		return 0, false
	}
	v := line[i+len(key):]
	if j := strings.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}

// firstLines returns up to n lines of a file, for a failure report.
func firstLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && len(out) < n {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
