// Package policy holds Marmot's policies (the YAML a platform team writes), their validation with field
// paths, and the pure planners that turn a snapshot of the cluster, a policy, remembered state and the
// time into a plan with a typed reason for every choice.
//
// It imports nothing of Marmot's own and no client library: planners are pure functions so that the
// same code runs live, in the simulator's virtual time, and in table tests.
package policy
