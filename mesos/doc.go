// Package mesos is Marmot's client for the Mesos master's v1 operator API (POST /api/v1).
//
// It wraps mesos-go v0.0.11 (httpcli, httpmaster, master/calls) behind a narrow API of its own: every
// call takes a context and is bounded by a timeout, results are plain Go types (Agent, Task, Window, …)
// so that callers never import mesos-go, and failures are typed errors checked with errors.Is.
//
// What mesos-go does not do, and this package adds (see ../shared/reference/wire-facts.md §1.2, §2):
//   - it always speaks JSON (mesos-go's default codec is protobuf);
//   - it follows the master's 307 leader redirects, whose Location is protocol-relative
//     ("//leader:5050/api/v1"), and fails over to the next configured master on 503 or a transport error;
//   - Watch keeps a SUBSCRIBE stream alive across stream ends, silences and leader changes, and tells its
//     consumer after every (re)subscription, with a full snapshot, that events may have been missed.
package mesos
