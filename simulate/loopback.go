package simulate

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// loopbackClaimPort is the port whose listener on 127.N.0.1 claims the network 127.N.0.0/16. Agents
// get addresses from 127.N.0.10 on, so the claim never takes an agent's port.
const loopbackClaimPort = 39999

// ClaimLoopbackNetwork returns a loopback network 127.N.0.0/16 (N from 2 to 254) that no other
// process on the machine has claimed, for a scenario with real task listeners that runs beside
// others (go test runs packages side by side, each with simulators of its own): two worlds on one
// network would put tasks on the same host:port, and one's task would answer, or fail to bind, for
// the other's. The claim is a listener on 127.N.0.1, held until release is called or the process
// ends. 127.1.0.0/16, the demo's (Options.Loopback), is never returned.
func ClaimLoopbackNetwork() (network string, release func(), err error) {
	start := rand.IntN(253)
	for i := range 253 {
		n := 2 + (start+i)%253
		l, err := net.Listen("tcp", net.JoinHostPort(fmt.Sprintf("127.%d.0.1", n), strconv.Itoa(loopbackClaimPort)))
		if err != nil {
			continue // claimed by another process, or by this one
		}
		return fmt.Sprintf("127.%d.0.0/16", n), func() { l.Close() }, nil
	}
	return "", nil, fmt.Errorf("no loopback network 127.N.0.0/16 left to claim (each is held by a listener on 127.N.0.1:%d)", loopbackClaimPort)
}
