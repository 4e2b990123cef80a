package election

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseSequence(t *testing.T) {
	for _, tc := range []struct {
		name string
		seq  int32
		ok   bool
	}{
		{"n_0123456789abcdef0123456789abcdef_0000000007", 7, true},
		{"_c_4f3e0b1e6c4a4e8f9d2b1a0c5e6f7a8b-lock-0000000012", 12, true}, // Curator
		{"x-72057594037927936-0000000003", 3, true},                       // the Java recipe
		{"0000000000", 0, true},
		{"2147483647", 2147483647, true},
		{"n_2147483648", 0, false}, // past int32: ZooKeeper would have gone negative
		{"n_-000000001", 0, false}, // negative: after 2^31 child changes
		{"n_000000001", 0, false},  // nine digits
		{"n_00000000a1", 0, false},
		{"lock", 0, false},
		{"", 0, false},
		{"n_٠١٢٣٤٥٦٧٨٩", 0, false}, // digits, but not ASCII
	} {
		seq, ok := parseSequence(tc.name)
		if seq != tc.seq || ok != tc.ok {
			t.Errorf("parseSequence(%q) = %d, %v; want %d, %v", tc.name, seq, ok, tc.seq, tc.ok)
		}
	}
}

func TestGUIDOf(t *testing.T) {
	g, err := newGUID()
	if err != nil {
		t.Fatal(err)
	}
	name := nodePrefix(g) + "0000000042"
	if got, ok := guidOf(name); !ok || got != g {
		t.Errorf("guidOf(%q) = %q, %v", name, got, ok)
	}
	for _, bad := range []string{
		"_c_" + g + "-lock-0000000001",
		"n_" + g[:31] + "_0000000001",
		"n_" + strings.Repeat("g", 32) + "_0000000001",
		"n_" + g + "-0000000001",
		"n_" + g + "_000000001",
	} {
		if got, ok := guidOf(bad); ok {
			t.Errorf("guidOf(%q) = %q, want not ours", bad, got)
		}
	}
}

func TestCandidatesOrder(t *testing.T) {
	cs := candidates([]string{
		"n_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb_0000000010",
		"not-a-candidate",
		"x-1-0000000002",
		"n_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_0000000009",
	})
	var got []int32
	for _, c := range cs {
		got = append(got, c.seq)
	}
	if fmt.Sprint(got) != "[2 9 10]" {
		t.Errorf("order = %v, want [2 9 10]", got)
	}
	if position(cs, "x-1-0000000002") != 0 || position(cs, "not-a-candidate") != -1 {
		t.Errorf("position wrong")
	}
}

// FuzzParseSequence: child names come from ZooKeeper, written by anyone who may create under the path.
// Parsing must never panic, and whatever parses must be exactly what ZooKeeper would have appended.
func FuzzParseSequence(f *testing.F) {
	for _, s := range []string{"n_0123456789abcdef0123456789abcdef_0000000007", "0000000000", "2147483648",
		"-000000001", "x-1-0000000002", "", "n_", "9999999999", "n_\xff\xfe0000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		seq, ok := parseSequence(name)
		if !ok {
			return
		}
		if seq < 0 || !strings.HasSuffix(name, fmt.Sprintf("%010d", seq)) {
			t.Errorf("parseSequence(%q) = %d, which ZooKeeper would not have appended", name, seq)
		}
		if g, ok := guidOf(name); ok && nodePrefix(g)+fmt.Sprintf("%010d", seq) != name {
			t.Errorf("guidOf(%q) = %q does not rebuild the name", name, g)
		}
	})
}
