package mesosapi

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// FuzzAppendString checks that any string, labels and host names included, is written as valid JSON
// that decodes back to it.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "tab\tnew\nline\r", "\x00\x1f\x7f", "héllo ✓", "bad \xff utf8", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes as invalid JSON %s: %v", s, b, err)
		}
		// Every byte of invalid UTF-8 becomes one U+FFFD, as in a conversion to runes.
		if want := string([]rune(s)); got != want {
			t.Fatalf("%q encodes as %s, which decodes to %q", s, b, got)
		}
	})
}

// TestSeconds checks that timestamps written from nanoseconds are the decimal of the time exactly.
func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		ns   int64
		want string
	}{
		{0, "0"},
		{1767571200 * 1e9, "1767571200"},
		{1767571200*1e9 + 5e8, "1767571200.5"},
		{1767571200*1e9 + 123456789, "1767571200.123456789"},
		{1767571200*1e9 + 1000, "1767571200.000001"},
		{-1e9 / 2, "-0.5"},
	} {
		var j jsonWriter
		j.seconds(time.Unix(0, tc.ns))
		if got := string(j.b); got != tc.want {
			t.Errorf("%d ns: %s, want %s", tc.ns, got, tc.want)
		}
		if _, err := strconv.ParseFloat(string(j.b), 64); err != nil {
			t.Errorf("%s is not a number: %v", j.b, err)
		}
	}
}

// TestWriterCommas checks the writer's one bit of state across nesting.
func TestWriterCommas(t *testing.T) {
	var j jsonWriter
	j.beginObject()
	j.field("a", "x")
	j.emptyArray("b")
	j.object("c")
	j.intField("d", 1)
	j.array("e")
	j.beginObject()
	j.endObject()
	j.num(2.5)
	j.endArray()
	j.endObject()
	j.boolField("f", true)
	j.rawField("g", []byte(`{"value":"v"}`))
	j.endObject()
	if want := `{"a":"x","b":[],"c":{"d":1,"e":[{},2.5]},"f":true,"g":{"value":"v"}}`; string(j.b) != want {
		t.Errorf("%s, want %s", j.b, want)
	}
}
