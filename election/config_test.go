package election

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestValidateListsEveryError(t *testing.T) {
	cfg := Config{
		Servers:        []string{"zk1:2181", "zk2", ":2181", "zk3:99999"},
		Path:           "marmot/leader/",
		ID:             strings.Repeat("x", 2000),
		SessionTimeout: 4 * time.Second,
		Lease:          5 * time.Second,
		Auth:           "marmot",
	}
	err := cfg.Validate()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Validate = %v, want Errors", err)
	}
	want := []string{"servers[1]", "servers[2]", "servers[3]", "path", "id", "lease", "auth"}
	var got []string
	for _, fe := range errs {
		got = append(got, fe.Field)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fields = %v, want %v\n%v", got, want, err)
	}
	if !strings.Contains(err.Error(), `servers[1]: "zk2" is not host:port, e.g. "zk1.mesos:2181"`) {
		t.Errorf("message lacks the example:\n%v", err)
	}
}

func TestValidateFields(t *testing.T) {
	ok := Config{Servers: []string{"127.0.0.1:2181"}, Path: "/marmot/autoscaler/leader"}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"ipv6 server", func(c *Config) { c.Servers = []string{"[::1]:2181"} }, ""},
		{"no servers", func(c *Config) { c.Servers = nil }, "servers"},
		{"no path", func(c *Config) { c.Path = "" }, "path"},
		{"root path", func(c *Config) { c.Path = "/" }, "path"},
		{"empty segment", func(c *Config) { c.Path = "/marmot//leader" }, "path"},
		{"dot segment", func(c *Config) { c.Path = "/marmot/../leader" }, "path"},
		{"reserved", func(c *Config) { c.Path = "/zookeeper/leader" }, "path"},
		{"zookeeperish is fine", func(c *Config) { c.Path = "/zookeepers/leader" }, ""},
		{"control char", func(c *Config) { c.Path = "/marmot/\x01" }, "path"},
		{"invalid utf8", func(c *Config) { c.Path = "/marmot/\xff" }, "path"},
		{"negative timeout", func(c *Config) { c.SessionTimeout = -time.Second }, "session_timeout"},
		{"short timeout", func(c *Config) { c.SessionTimeout = 500 * time.Millisecond }, "session_timeout"},
		{"long timeout", func(c *Config) { c.SessionTimeout = time.Hour }, "session_timeout"},
		{"lease equal to session", func(c *Config) { c.SessionTimeout, c.Lease = 4*time.Second, 4*time.Second }, "lease"},
		{"negative lease", func(c *Config) { c.Lease = -time.Second }, "lease"},
		{"short session, default lease", func(c *Config) { c.SessionTimeout = 4 * time.Second }, ""},
		{"auth without password", func(c *Config) { c.Auth = "marmot:" }, "auth"},
		{"auth", func(c *Config) { c.Auth = "marmot:pass:word" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			err := cfg.Validate()
			var errs Errors
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.field != "" && (!errors.As(err, &errs) || len(errs) != 1 || errs[0].Field != tc.field):
				t.Errorf("Validate = %v, want one error on %s", err, tc.field)
			}
		})
	}
}

func TestNewFillsDefaults(t *testing.T) {
	e, err := New(Config{Servers: []string{"127.0.0.1:2181"}, Path: "/m/leader"})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if e.cfg.SessionTimeout != 10*time.Second || e.cfg.Lease != 5*time.Second || e.cfg.ID != host {
		t.Errorf("defaults: %s %s %q", e.cfg.SessionTimeout, e.cfg.Lease, e.cfg.ID)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted an empty config")
	}
}

func TestDefaultID(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		":8080":          host + ":8080",
		"0.0.0.0:8080":   host + ":8080",
		"[::]:8080":      host + ":8080",
		"10.0.0.5:9090":  "10.0.0.5:9090",
		"marmot-1:9090":  "marmot-1:9090",
		"[fe80::1]:9090": "[fe80::1]:9090",
	} {
		got, err := DefaultID(in)
		if err != nil || got != want {
			t.Errorf("DefaultID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := DefaultID("8080"); err == nil {
		t.Error("DefaultID accepted an address without a port")
	}
}

func TestACL(t *testing.T) {
	open := Config{}.acl()
	if len(open) != 1 || open[0].Scheme != "world" {
		t.Errorf("acl without auth = %+v", open)
	}
	// The digest is base64(sha1("user:password")), as ZooKeeper's DigestAuthenticationProvider computes it.
	acl := Config{Auth: "marmot:s3cret"}.acl()
	if len(acl) != 2 || acl[0].ID != "marmot:P34bdXMtUNM3M6BUH+YSWBrf/dY=" || acl[1].Scheme != "world" {
		t.Errorf("acl with auth = %+v", acl)
	}
}
