package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// writeReport saves the JSON report and prints it as tables.
func writeReport(w io.Writer, o options, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(rep.File, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nCall path benchmark, %s: %d cores (%s), load %s → %s\n", rep.Started.Format("2006-01-02 15:04 UTC"),
		rep.Machine.Cores, rep.Machine.CPU, rep.Machine.LoadStart, rep.Machine.LoadEnd)
	fmt.Fprintf(w, "%d customers, %d agents on %d sipp phones (hold %s), desks end wrap-up: %v, %d%% unknown callers, steps of %s (≤ %d calls)\n",
		o.Customers, o.Agents, o.Phones, o.Hold, o.WrapUp == "desk", int(o.Unknown*100), o.StepTime, o.StepMaxCalls)
	printPhase(w, &rep.Ringdesk, true)
	if rep.Kamailio != nil {
		printPhase(w, rep.Kamailio, false)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Ringdesk: highest sustained rate with 0 failed calls and every call logged: %s\n", bestText(&rep.Ringdesk))
	if rep.Kamailio != nil {
		fmt.Fprintf(w, "Kamailio (bare stateful proxy, 1 worker, for scale): %s\n", bestText(rep.Kamailio))
		if rep.Ratio > 0 {
			fmt.Fprintf(w, "Ratio Ringdesk/Kamailio: %s%.3f (Kamailio does far less per call: it is the scale, not a like-for-like peer)\n", rep.RatioBound, rep.Ratio)
		}
	}
	for _, s := range rep.Ringdesk.Steps {
		if s.Rate == 500 {
			verdict := "meets"
			if s.PopE2E.P99 >= 20 || s.PopE2E.N == 0 {
				verdict = "misses"
			}
			fmt.Fprintf(w, "INVITE→pop p99 at 500 calls/s: %.1f ms end to end (%s the 20 ms target), %.1f ms inside ringdesk\n",
				s.PopE2E.P99, verdict, s.PopInternal.P99)
		}
	}
	fmt.Fprintf(w, "Latency: %s\n", rep.Latency)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	fmt.Fprintf(w, "JSON: %s\n", rep.File)
	return nil
}

func bestText(ph *phase) string {
	if ph.Best == 0 {
		return "none of the steps passed"
	}
	s := fmt.Sprintf("%d calls/s", ph.Best)
	if ph.AllPassed {
		s += " (every step passed: the limit is higher)"
	}
	return s
}

func printPhase(w io.Writer, ph *phase, full bool) {
	fmt.Fprintf(w, "\n%s\n", ph.Name)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if full {
		fmt.Fprintln(tw, "cps\tplaced/s\tattempted\tok\tfailed\tpop e2e p50/p99 ms\tpop rd p50/p99\tagent-INV e2e p50/p99\tagent-INV rd p50/p99\tCPU ms/call\tcores\tmysql/redis/sipp/desks ms/call\tRSS MiB\tsock drops\trcvbuf err\tlogged\tload\tresult\t")
	} else {
		fmt.Fprintln(tw, "cps\tplaced/s\tattempted\tok\tfailed\tagent-INV e2e p50/p99 ms\tCPU ms/call\tcores\tsipp ms/call\tRSS MiB\tsock drops\trcvbuf err\tload\tresult\t")
	}
	for _, s := range ph.Steps {
		res := "pass"
		if !s.OK {
			res = "FAIL: " + s.Why
		}
		load := strings.Fields(s.LoadStart)
		l1 := ""
		if len(load) > 0 {
			l1 = load[0]
		}
		if full {
			fmt.Fprintf(tw, "%d\t%.0f\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f/%.2f/%.2f/%.2f\t%.0f\t%d\t%d\t%d/%d\t%s\t%s\t\n",
				s.Rate, s.Achieved, s.Attempted, s.Succeeded, s.Failed, pq(s.PopE2E), pq(s.PopInternal), pq(s.AgentE2E), pq(s.AgentIntern),
				s.CPUPerCallMS, s.CPUShare, s.MySQLMSPerCall, s.RedisMSPerCall, s.PhonesMSPerCall+s.CallerMSPerCall, s.DesksMSPerCall, s.RSSPeakMiB, s.SocketDrops, s.RcvbufErrors, s.LoggedFinal, s.Attempted, l1, res)
		} else {
			fmt.Fprintf(tw, "%d\t%.0f\t%d\t%d\t%d\t%s\t%.3f\t%.2f\t%.2f\t%.0f\t%d\t%d\t%s\t%s\t\n",
				s.Rate, s.Achieved, s.Attempted, s.Succeeded, s.Failed, pq(s.AgentE2E),
				s.CPUPerCallMS, s.CPUShare, s.PhonesMSPerCall+s.CallerMSPerCall, s.RSSPeakMiB, s.SocketDrops, s.RcvbufErrors, l1, res)
		}
	}
	tw.Flush()
	for _, s := range ph.Steps {
		if s.Profile != "" {
			fmt.Fprintf(w, "  %d/s: CPU profile %s\n", s.Rate, s.Profile)
		}
		if !s.OK {
			if s.LoggedStates != "" {
				fmt.Fprintf(w, "  %d/s: call rows by state: %s\n", s.Rate, s.LoggedStates)
			}
			for _, e := range s.SippErrors {
				if len(e) > 300 {
					e = e[:300] + "…"
				}
				fmt.Fprintf(w, "  %d/s: %s\n", s.Rate, e)
			}
		}
	}
}

func pq(l latency) string {
	if l.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f/%.1f", l.P50, l.P99)
}
