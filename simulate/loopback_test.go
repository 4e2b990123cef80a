package simulate

import "testing"

// Two claims never get the same network while both are held, and a released one can be claimed again.
func TestClaimLoopbackNetwork(t *testing.T) {
	seen := map[string]bool{}
	var releases []func()
	for range 20 {
		n, release, err := ClaimLoopbackNetwork()
		if err != nil {
			t.Fatal(err)
		}
		if seen[n] || n == "127.1.0.0/16" {
			t.Fatalf("%s claimed twice, or the demo's network", n)
		}
		seen[n] = true
		releases = append(releases, release)
	}
	for _, r := range releases {
		r()
	}
}
