package election

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"sort"
	"strings"
)

// A candidate znode is named n_<guid>_<sequence>: ZooKeeper appends the sequence to the name we ask for.
// The guid (random, one per created znode) lets a replica find its own znode again when the connection
// drops between ZooKeeper creating it and us reading the answer; without it, a retry would leave an
// orphan candidate that would have to expire before anyone behind it could lead.
const (
	namePrefix = "n_"
	guidHexLen = 32
	seqLen     = 10
)

// candidate is one child of the election path that takes part in the election.
type candidate struct {
	name string // the child's name, without the parent path
	seq  int32
}

// newGUID returns 32 random hex digits.
func newGUID() (string, error) {
	var b [guidHexLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// nodePrefix is the name to create (ZooKeeper appends the sequence) for a znode with the given guid.
func nodePrefix(guid string) string { return namePrefix + guid + "_" }

// parseSequence returns the sequence number ZooKeeper appended to a sequential znode's name.
//
// ZooKeeper appends the parent's child version formatted as %010d, so a sequential name ends in exactly
// ten digits. Any such child takes part in the election, whoever made it (our n_<guid>_ names, Curator's
// or the Java recipe's): ordering by the sequence is right for all of them, and ignoring a contender we
// do not recognise could make two leaders. Names that do not end in ten digits are not candidates.
// The counter is a signed 32-bit integer that would turn negative after 2^31 child changes under the
// path; an election sees a few per failover, so we treat what would follow as not a candidate.
func parseSequence(name string) (int32, bool) {
	if len(name) < seqLen {
		return 0, false
	}
	var n int64
	for _, c := range name[len(name)-seqLen:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt32 {
		return 0, false
	}
	return int32(n), true
}

// guidOf returns the guid of one of our own n_<guid>_<sequence> names.
func guidOf(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok || len(rest) != guidHexLen+1+seqLen || rest[guidHexLen] != '_' {
		return "", false
	}
	guid := rest[:guidHexLen]
	if _, err := hex.DecodeString(guid); err != nil {
		return "", false
	}
	if _, ok := parseSequence(rest); !ok {
		return "", false
	}
	return guid, true
}

// candidates returns the children that take part in the election, lowest sequence (the leader) first.
// Sequences are unique under one parent; the name breaks ties only to keep the order total.
func candidates(children []string) []candidate {
	out := make([]candidate, 0, len(children))
	for _, name := range children {
		if seq, ok := parseSequence(name); ok {
			out = append(out, candidate{name: name, seq: seq})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].seq != out[j].seq {
			return out[i].seq < out[j].seq
		}
		return out[i].name < out[j].name
	})
	return out
}

// position returns where name stands among cs, or -1 when it is not there.
func position(cs []candidate, name string) int {
	for i, c := range cs {
		if c.name == name {
			return i
		}
	}
	return -1
}
