package election

import (
	"fmt"
	"net"
	"strings"
)

// ParseURL reads a ZooKeeper URL in the form Mesos (--zk, --master) and Marathon (--zk) take, so that
// operators can give Marmot the same kind of string: zk://[user:password@]host1:port1,host2:port2/path.
// A host without a port gets ZooKeeper's 2181. It fills Servers, Path and Auth; New checks them.
func ParseURL(u string) (Config, error) {
	rest, ok := strings.CutPrefix(u, "zk://")
	if !ok {
		return Config{}, fmt.Errorf("zookeeper url: must start with zk://, e.g. zk://zk1.mesos:2181,zk2.mesos:2181/marmot/autoscaler/leader")
	}
	hosts, path, ok := strings.Cut(rest, "/")
	if !ok || path == "" {
		return Config{}, fmt.Errorf("zookeeper url: no path after the hosts, e.g. zk://zk1.mesos:2181/marmot/autoscaler/leader")
	}
	var cfg Config
	cfg.Path = "/" + path
	// The credentials end at the last @: a password may hold one, a host list may not.
	if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
		cfg.Auth, hosts = hosts[:at], hosts[at+1:]
		if user, pass, ok := strings.Cut(cfg.Auth, ":"); !ok || user == "" || pass == "" {
			// Say where, not what: the string is a secret.
			return Config{}, fmt.Errorf("zookeeper url: credentials before @ must be user:password")
		}
	}
	for i, h := range strings.Split(hosts, ",") {
		if h == "" {
			return Config{}, fmt.Errorf("zookeeper url: host %d is empty", i+1)
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "2181")
			if _, _, err := net.SplitHostPort(h); err != nil {
				return Config{}, fmt.Errorf("zookeeper url: host %d is neither host nor host:port", i+1)
			}
		}
		cfg.Servers = append(cfg.Servers, h)
	}
	return cfg, nil
}
