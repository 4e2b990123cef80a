package daemon

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestListFlagSplitsAndRepeats(t *testing.T) {
	var l ListFlag
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(&l, "u", "")
	if err := fs.Parse([]string{"--u", "a, b,", "--u", "c"}); err != nil {
		t.Fatal(err)
	}
	if l.String() != "a,b,c" {
		t.Fatalf("got %q", l.String())
	}
}

func TestCredentialsNeverShowTheirSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cr3t-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := MesosFlags()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"--mesos-principal", "marmot", "--mesos-secret-file", secret}); err != nil {
		t.Fatal(err)
	}
	var p Problems
	cr := f.Resolve(&p)
	if p.Err() != nil || cr.User != "marmot" || cr.Pass != "s3cr3t-from-file" {
		t.Fatalf("%v %+v", p.Err(), cr.User)
	}
	for _, s := range []string{fmt.Sprint(cr), fmt.Sprintf("%v %+v %#v %s", cr, cr, cr, cr)} {
		if strings.Contains(s, "s3cr3t") {
			t.Fatalf("the secret shows: %s", s)
		}
	}

	t.Setenv(EnvMarathonToken, "tok-from-env")
	m := MarathonFlags()
	m.Register(flag.NewFlagSet("t", flag.ContinueOnError))
	if cr := m.Resolve(&p); cr.Token != "tok-from-env" || p.Err() != nil {
		t.Fatalf("token from the environment: %v", p.Err())
	}
}

func TestCredentialProblemsAreAllListed(t *testing.T) {
	f := MarathonFlags()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.Register(fs)
	_ = fs.Parse([]string{"--marathon-user", "u", "--marathon-ca-file", "/nonexistent/ca.pem", "--marathon-token-file", "/nonexistent/tok"})
	var p Problems
	f.Resolve(&p)
	got := p.Err().Error()
	for _, want := range []string{"--marathon-ca-file", "--marathon-token-file", "--marathon-user: needs --marathon-password-file or $MARMOT_MARATHON_PASSWORD"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
}

func TestHAFlags(t *testing.T) {
	auth := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(auth, []byte("marmot:pw-in-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := HAFlags{ZK: "zk://127.0.0.1:2181,zk2/marmot/autoscaler/leader", AuthFile: auth, SessionTimeout: 10e9}
	var p Problems
	cfg := h.Config(&p)
	if p.Err() != nil || cfg == nil || len(cfg.Servers) != 2 || cfg.Servers[1] != "zk2:2181" || cfg.Auth != "marmot:pw-in-file" || cfg.Path != "/marmot/autoscaler/leader" {
		t.Fatalf("%v %+v", p.Err(), cfg)
	}
	if cfg := (&HAFlags{}).Config(&p); cfg != nil {
		t.Fatal("no --zk, yet an election")
	}
	bad := HAFlags{ZK: "zk://u:hunter2@h1/leader", SessionTimeout: 400e9}
	p = nil
	bad.Config(&p)
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "--zk-session-timeout") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v", err)
	}
}

type fakeStatus struct{}

func (fakeStatus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/status":
		_, _ = io.WriteString(w, `{"pools": []}`)
	default:
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}
}

func TestFollowersWithoutElectionIsTheHandler(t *testing.T) {
	if h := Followers(fakeStatus{}, nil); h != (fakeStatus{}) {
		t.Fatal("wrapped without an election")
	}
	rec := httptest.NewRecorder()
	Followers(fakeStatus{}, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Fatal(rec.Code)
	}
}

// TestVersion: without -ldflags the build info gives a version; with -X it is the value given.
func TestVersion(t *testing.T) {
	if v := Version(); v == "" {
		t.Fatal("empty version")
	}
	if !strings.HasPrefix(VersionLine("x"), "x ") {
		t.Fatal(VersionLine("x"))
	}
	if testing.Short() {
		t.Skip("-short: builds a binary")
	}
	dir := t.TempDir()
	main := filepath.Join(dir, "main.go")
	if err := os.WriteFile(main, []byte("package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/marmot-project/marmot/internal/daemon\"\n)\n\nfunc main() { fmt.Print(daemon.Version()) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The program must live in the module to import an internal package: build it from here.
	sub := filepath.Join("testdata", "versionprobe")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll("testdata") })
	b, _ := os.ReadFile(main)
	if err := os.WriteFile(filepath.Join(sub, "main.go"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "probe")
	out, err := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/marmot-project/marmot/internal/daemon.version=9.8.7-test", "./"+sub).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got, err := exec.Command(bin).Output()
	if err != nil || string(got) != "9.8.7-test" {
		t.Fatalf("version %q, %v", got, err)
	}
}
