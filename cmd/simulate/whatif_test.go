package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marmot-project/marmot/simulate/whatif"
)

func whatifRun(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"whatif"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestWhatifFlagErrorsNameTheFlag(t *testing.T) {
	code, _, stderr := whatifRun("--days", "0", "--format", "xml", "--parallel", "0", "--variants", "marmot,fancy", "stray")
	if code != 2 {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{"--days:", "--format:", "--parallel:", `--variants: "fancy"`, "unexpected arguments [stray]"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("minute,app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = whatifRun("--scenario", "nope", "--trace", bad, "--instances", bad, "--policy", filepath.Join(dir, "none.yaml"), "--hibernation-policy", bad)
	if code != 2 {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{"--scenario:", "--trace: trace: header column 1", "--instances: instances: the header", "--policy: open", "--hibernation-policy:"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code, _, stderr := whatifRun("-h"); code != 0 || !strings.Contains(stderr, "keep-alive-20m") || !strings.Contains(stderr, "-hibernation-policy") {
		t.Errorf("help: exit %d\n%s", code, stderr)
	}
}

func TestWhatifWritesEachFormat(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.json")
	code, _, stderr := whatifRun("--scenario", "small", "--days", "0.05", "--trace", "../../simulate/whatif/testdata/azure-functions-10.csv", "--format", "json", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := whatif.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(whatif.VariantNames()) || rep.Minutes != 72 || rep.TraceFunctions != 10 {
		t.Errorf("%d results over %d minutes with %d functions", len(rep.Results), rep.Minutes, rep.TraceFunctions)
	}
	code, html, _ := whatifRun("--days", "0.02", "--variants", "marmot,ideal", "--format", "html")
	if code != 0 || !strings.HasPrefix(html, "<!DOCTYPE html>") || !strings.Contains(html, "chart-agents") {
		t.Errorf("html: exit %d, %.80q", code, html)
	}
	code, table, _ := whatifRun("--days", "0.02", "--variants", "marmot", "--parallel", "1")
	if code != 0 || !strings.Contains(table, "what-if: scenario small") || !strings.Contains(table, "marmot") {
		t.Errorf("table: exit %d\n%s", code, table)
	}
}
