package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// kamailioConfig is a bare stateful proxy: transaction module (tm) and
// record-route, every new INVITE sent to one static next hop (the sipp
// phone), in-dialog requests loose-routed. One worker process (children=1).
const kamailioConfig = `#!KAMAILIO
# Written by ringdesk-bench: a bare stateful proxy for scale.
debug=1
log_stderror=yes
children=1
listen=udp:127.0.0.1:%d
auto_aliases=no

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "pv.so"

modparam("tm", "fr_timer", 30000)
modparam("tm", "fr_inv_timer", 60000)

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK")) {
			if (t_check_trans()) {
				t_relay();
			}
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	t_check_trans();
	record_route();
	$du = "sip:127.0.0.1:%d";
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}
`

// runKamailio measures Kamailio in front of one sipp phone, with the same
// caller and steps.
func (b *bench) runKamailio(ctx context.Context) (*phase, error) {
	ph := &phase{Name: "kamailio"}
	phonePort, err := freeUDPPort()
	if err != nil {
		return ph, err
	}
	kPort, err := freeUDPPort()
	if err != nil {
		return ph, err
	}
	dir := filepath.Join(b.work, "kamailio")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ph, err
	}
	cfg := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, kamailioConfig, kPort, phonePort), 0o644); err != nil {
		return ph, err
	}
	phoneLog := filepath.Join(b.work, "kamailio-phone.log")
	phone := exec.Command(b.o.Sipp, "-sf", filepath.Join(b.work, "agent.xml"), "-t", "u1", "-i", "127.0.0.1",
		"-p", strconv.Itoa(phonePort), "-d", strconv.FormatInt(b.o.Hold.Milliseconds(), 10), "-nostdin",
		"-buff_size", "4194304", "-trace_logs", "-log_file", phoneLog,
		"-trace_err", "-error_file", filepath.Join(b.work, "kamailio-phone-errors.log"))
	phone.Dir = b.work
	pc, err := startChild("sipp phone (kamailio)", phone, nil)
	if err != nil {
		return ph, err
	}
	defer pc.Stop(5 * time.Second)
	klog, err := os.Create(filepath.Join(dir, "kamailio.log"))
	if err != nil {
		return ph, err
	}
	defer klog.Close()
	// -DD: stay in the foreground (the workers are its children); -x/-X
	// tlsf: Debian's default memory manager is several times slower.
	kc := exec.Command(b.o.Kamailio, "-f", cfg, "-DD", "-E", "-m", "2048", "-x", "tlsf", "-X", "tlsf",
		"-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"), "-w", dir)
	k, err := startChild("kamailio", kc, klog)
	if err != nil {
		return ph, err
	}
	defer func() {
		if err := k.Stop(10 * time.Second); err != nil {
			logf("%v", err)
		}
	}()
	// Up when it answers on its port: give it a moment, then check it lives.
	time.Sleep(2 * time.Second)
	if k.Exited() {
		return ph, fmt.Errorf("kamailio exited at start: %v\n%s", k.err, tail(mustRead(filepath.Join(dir, "kamailio.log")), 20))
	}
	logf("kamailio pid %d on udp 127.0.0.1:%d → sipp phone 127.0.0.1:%d", k.Pid(), kPort, phonePort)
	target := fmt.Sprintf("127.0.0.1:%d", kPort)
	step := func(ctx context.Context, rate, calls int, warm bool) stepResult {
		r := stepResult{Rate: rate, Planned: calls, LoadStart: loadAvg(), HostCalibMS: hostCalibration()}
		cpu0, _ := procCPU(k.Pid(), true)
		snmp0 := readUDPCounters()
		drops0 := socketDrops(kPort)
		off := fileSize(phoneLog)
		rss := sampleRSS(k.Pid(), true)
		start := time.Now()
		phone0 := cpuOf(pc.Pid())
		st, errs, caller, err := b.runCaller(ctx, "kamailio", target, rate, calls)
		r.Sipp, r.SippErrors = st, errs
		r.Wall = time.Since(start).Seconds()
		r.RSSPeakMiB = float64(rss.Stop()) / (1 << 20)
		if err != nil {
			r.Why = err.Error()
			return r
		}
		cpu1, _ := procCPU(k.Pid(), true)
		snmp1 := readUDPCounters()
		r.CPUSeconds = (cpu1 - cpu0).Seconds()
		r.CPUShare = r.CPUSeconds / r.Wall
		n := float64(max(st.Successful, 1))
		r.PhonesMSPerCall = float64((cpuOf(pc.Pid()) - phone0).Microseconds()) / 1000 / n
		r.CallerMSPerCall = float64(caller.CPU().Microseconds()) / 1000 / n
		r.SocketDrops = socketDrops(kPort) - drops0
		r.RcvbufErrors, r.InErrors = snmp1.RcvbufErrors-snmp0.RcvbufErrors, snmp1.InErrors-snmp0.InErrors
		r.LoadEnd = loadAvg()
		lat, _, _ := agentLogLatencies(phoneLog, off)
		r.AgentE2E = summarize(lat)
		b.finish(&r, st)
		time.Sleep(time.Second)
		return r
	}
	b.runSteps(ctx, ph, b.o.KamailioRates, step)
	return ph, nil
}

func mustRead(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}
