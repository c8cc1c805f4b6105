package telephony_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tortureDir is the RFC 4475 corpus in the shared directory beside the
// repository. It is read in place, never copied into the repo. Without it
// the test fails, except under -short.
func tortureDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "shared", "sip-torture")
	if _, err := os.Stat(filepath.Join(dir, "index.tsv")); err != nil {
		if testing.Short() {
			tb.Skipf("torture corpus not found (-short): %v", err)
		}
		tb.Fatalf("torture corpus not found at %s: %v", dir, err)
	}
	return dir
}

// tortureCase is one row of index.tsv.
type tortureCase struct {
	File, Section, Verdict, Transport, Expect, Lenient string
	Data                                               []byte
}

func tortureCases(tb testing.TB) []tortureCase {
	tb.Helper()
	dir := tortureDir(tb)
	f, err := os.Open(filepath.Join(dir, "index.tsv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []tortureCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "file\t") {
			continue
		}
		col := strings.Split(line, "\t")
		if len(col) < 7 {
			tb.Fatalf("index.tsv: short row %q", line)
		}
		data, err := os.ReadFile(filepath.Join(dir, col[0]))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, tortureCase{File: col[0], Section: col[1], Verdict: col[3], Transport: col[4],
			Expect: col[5], Lenient: col[6], Data: data})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) < 50 {
		tb.Fatalf("index.tsv lists %d messages, want 50", len(out))
	}
	return out
}

// meets reports whether a first final reply (0: none) is what index.tsv's
// expect column allows.
func meets(expect string, code int) bool {
	switch expect {
	case "any":
		return true
	case "none":
		return code == 0
	case "reject":
		return code == 0 || code >= 400 && code <= 599
	}
	for _, alt := range strings.Split(expect, ",") {
		if alt == "4xx" && code >= 400 && code <= 499 {
			return true
		}
		if alt == strings.TrimSpace(alt) && alt != "4xx" && alt == itoa(code) {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}
