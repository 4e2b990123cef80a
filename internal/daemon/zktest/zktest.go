// Package zktest starts a real ZooKeeper (the Debian package, through scripts/zookeeper.sh) on
// loopback for the daemons' leader-election tests.
package zktest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// script is scripts/zookeeper.sh, found from this file.
func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "zookeeper.sh")
}

// Start runs a ZooKeeper for the test on a free loopback port, stopped at cleanup, and returns its
// host:port. It skips the test under -short and when ZooKeeper is not installed.
func Start(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the tests against a real ZooKeeper are skipped")
	}
	if err := exec.Command(script(), "check").Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			t.Skip("ZooKeeper is not installed: apt-get install zookeeper (it brings default-jre)")
		}
		t.Fatalf("zookeeper.sh check: %v", err)
	}
	dir := t.TempDir()
	var last error
	for range 3 { // the free port may be taken between our probe and the JVM's bind
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(script(), "start", dir, strconv.Itoa(port))
		cmd.Env = append(os.Environ(), "ZK_WATCH_PID="+strconv.Itoa(os.Getpid()))
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Cleanup(func() { _ = exec.Command(script(), "stop", dir).Run() })
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		last = fmt.Errorf("zookeeper.sh start: %v\n%s", err, out)
	}
	t.Fatal(last)
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
