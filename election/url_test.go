package election

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		servers string
		path    string
		auth    string
		err     string
	}{
		{in: "zk://zk1:2181,zk2:2182/marmot/autoscaler/leader", servers: "zk1:2181,zk2:2182", path: "/marmot/autoscaler/leader"},
		{in: "zk://zk1,10.0.0.2/mesos", servers: "zk1:2181,10.0.0.2:2181", path: "/mesos"},
		{in: "zk://[::1]:2181,[fe80::1]/m", servers: "[::1]:2181,[fe80::1]:2181", path: "/m"},
		{in: "zk://marmot:p@ss@zk1:2181/m", servers: "zk1:2181", path: "/m", auth: "marmot:p@ss"},
		{in: "http://zk1:2181/m", err: "must start with zk://"},
		{in: "zk://zk1:2181", err: "no path"},
		{in: "zk://zk1:2181/", err: "no path"},
		{in: "zk://zk1:2181,,zk2/m", err: "host 2 is empty"},
		{in: "zk://zk1,0[0/m", err: "host 2 is neither"}, // found by FuzzParseURL
		{in: "zk://marmot@zk1/m", err: "user:password"},
		{in: "zk://:secret@zk1/m", err: "user:password"},
	} {
		cfg, err := ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) = %v, want an error with %q", tc.in, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the password: %v", err)
			}
			continue
		}
		if err != nil || strings.Join(cfg.Servers, ",") != tc.servers || cfg.Path != tc.path || cfg.Auth != tc.auth {
			t.Errorf("ParseURL(%q) = %+v, %v", tc.in, cfg, err)
		}
	}
	cfg, _ := ParseURL("zk://zk1:2181/marmot/leader")
	if err := cfg.Validate(); err != nil {
		t.Errorf("a parsed URL does not validate: %v", err)
	}
}

// FuzzParseURL: the URL comes from an operator's flag. Parsing must never panic, and what it accepts
// must come back the same when written out again.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"zk://zk1:2181,zk2:2182/marmot/autoscaler/leader", "zk://u:p@h/m", "zk://[::1]/m",
		"zk://,/", "zk://@/", "zk://a:b@c@d/e", "zk://[/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cfg, err := ParseURL(in)
		if err != nil {
			return
		}
		if len(cfg.Servers) == 0 || !strings.HasPrefix(cfg.Path, "/") {
			t.Fatalf("ParseURL(%q) = %+v", in, cfg)
		}
		out := "zk://"
		if cfg.Auth != "" {
			out += cfg.Auth + "@"
		}
		out += strings.Join(cfg.Servers, ",") + cfg.Path
		again, err := ParseURL(out)
		if err != nil || strings.Join(again.Servers, ",") != strings.Join(cfg.Servers, ",") || again.Path != cfg.Path || again.Auth != cfg.Auth {
			t.Fatalf("ParseURL(%q) = %+v; written out as %q it parses as %+v, %v", in, cfg, out, again, err)
		}
	})
}
