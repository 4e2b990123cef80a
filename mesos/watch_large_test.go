package mesos

import (
	"bytes"
	"testing"
	"time"
)

// A SUBSCRIBED snapshot of a large cluster is bigger than mesos-go's default 4 MiB record limit in
// JSON (a thousand agents with their tasks is about 5 MB): Watch must still subscribe.
func TestWatchSubscribesWithASnapshotLargerThan4MiB(t *testing.T) {
	record := subscribedRecord(t, 15*time.Second)
	// An unknown field pads the record past the limit; the decoder skips it, as it would skip the
	// real agents' bulk.
	padded := append(bytes.TrimSuffix(record, []byte("}")), []byte(`,"padding":"`+string(bytes.Repeat([]byte("x"), 6<<20))+`"}`)...)
	m := newFakeMaster(t, streamAnswer(func(int) ([][]byte, bool) { return [][]byte{padded}, true }))
	c := newTestClient(t, fastReconnect(m.URL()))
	log := runWatch(t, c)
	evs := log.waitFor(t, "a resync", func(evs []Event) bool { return count(evs, EventResync) >= 1 })
	if evs[0].State == nil || len(evs[0].State.Agents) != 1 {
		t.Errorf("resync = %+v", evs[0])
	}
}
