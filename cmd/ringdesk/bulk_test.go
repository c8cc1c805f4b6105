package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeedAndImportCommands(t *testing.T) {
	cfg := testConfig(t)
	if code, _, errOut := cli(t, cfg, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut)
	}
	code, out, errOut := cli(t, cfg, "", "seed", "--customers", "300", "--demo-users")
	if code != 0 || !strings.Contains(out, "300 demo customers (300 created") || !strings.Contains(out, "5 login(s) created") {
		t.Fatalf("seed: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "seeding customers: 300/300 (100%)") {
		t.Errorf("seed printed no progress: %q", errOut)
	}
	if code, out, _ := cli(t, cfg, "", "seed", "--customers", "300", "--demo-users"); code != 0 || !strings.Contains(out, "(0 created, 300 already there)") || !strings.Contains(out, "0 login(s) created") {
		t.Errorf("second seed should change nothing: exit %d %q", code, out)
	}

	csv := filepath.Join(t.TempDir(), "customers.csv")
	body := "Full Name,Organisation,Tel (office),Account No\n" +
		"Ada Lovelace,Analytical,020 7946 0001,CSV-1\n" +
		",,,\n" +
		"Bad Email,X,1,CSV-2,extra\n" +
		"Charles Babbage,Analytical,020 7946 0002,CSV-3\n"
	if err := os.WriteFile(csv, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, cfg, "", "import", csv, "--map", "Tel (office)=phone:work")
	if code != 0 || !strings.Contains(out, "4 rows: 2 created, 0 unchanged, 2 failed") {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"customers.csv:3: ", "customers.csv:4: "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("bad row %q not reported in %q", want, errOut)
		}
	}
	if code, out, _ := cli(t, cfg, "", "import", csv, "--map", "Tel (office)=phone:work"); code != 0 || !strings.Contains(out, "2 unchanged") {
		t.Errorf("re-import: exit %d %q, want nothing changed", code, out)
	}
	if code, _, errOut := cli(t, cfg, "", "import", filepath.Join(t.TempDir(), "missing.csv")); code != 1 || !strings.Contains(errOut, "missing.csv") {
		t.Errorf("missing file: exit %d %q", code, errOut)
	}
	if code, _, errOut := cli(t, cfg, "", "import"); code != 2 || !strings.Contains(errOut, "Usage") {
		t.Errorf("no file: exit %d %q, want usage", code, errOut)
	}
	if code, _, errOut := cli(t, cfg, "", "import", csv, "--map", "nonsense"); code != 2 || !strings.Contains(errOut, "HEADER=field") {
		t.Errorf("bad --map: exit %d %q", code, errOut)
	}
}
