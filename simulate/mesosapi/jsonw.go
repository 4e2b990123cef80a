package mesosapi

import (
	"encoding/base64"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// jsonWriter appends JSON to a byte slice. GET_STATE on a 1,000-agent cluster is tens of megabytes
// and is rendered under the world lock, so the replies are written straight from the model into one
// buffer instead of through intermediate structs and reflection (see BenchmarkGetState).
//
// It keeps one bit of state, whether the next value needs a comma before it, which is all it needs
// because every object and array is opened and closed by the same function.
type jsonWriter struct {
	b       []byte
	comma   bool
	scratch []uint64 // reusable space for sorting ports
	idbuf   []byte   // reusable space for the encoded id of the task being written
}

var writers = sync.Pool{New: func() any { return &jsonWriter{} }}

// getWriter returns an empty writer with room for about hint bytes.
func getWriter(hint int) *jsonWriter {
	j := writers.Get().(*jsonWriter)
	if cap(j.b) < hint {
		j.b = make([]byte, 0, hint+hint/8)
	}
	return j
}

// replySizes remembers the size of the last reply of each kind. A GET_STATE is tens of megabytes:
// allocating its buffer once at the right size costs far less than growing it by copying, whenever
// the garbage collector has emptied the writer pool.
type replySizes struct {
	mu   sync.Mutex
	last map[string]int
}

func (r *replySizes) get(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[kind]
}

func (r *replySizes) set(kind string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]int{}
	}
	r.last[kind] = n
}

func putWriter(j *jsonWriter) {
	// Keep the large buffers of GET_STATE for the next call, but not unboundedly large ones.
	if cap(j.b) > 256<<20 {
		return
	}
	j.reset()
	writers.Put(j)
}

func (j *jsonWriter) reset() { j.b, j.comma = j.b[:0], false }

func (j *jsonWriter) sep() {
	if j.comma {
		j.b = append(j.b, ',')
	}
	j.comma = false
}

// key writes an object key. Keys are Go constants from this package, so they need no escaping.
func (j *jsonWriter) key(k string) {
	j.sep()
	j.b = append(j.b, '"')
	j.b = append(j.b, k...)
	j.b = append(j.b, '"', ':')
}

// userKey writes an object key that comes from outside (an attribute name, a role).
func (j *jsonWriter) userKey(k string) {
	j.sep()
	j.b = appendString(j.b, k)
	j.b = append(j.b, ':')
}

func (j *jsonWriter) beginObject() { j.sep(); j.b = append(j.b, '{') }
func (j *jsonWriter) endObject()   { j.b = append(j.b, '}'); j.comma = true }
func (j *jsonWriter) beginArray()  { j.sep(); j.b = append(j.b, '[') }
func (j *jsonWriter) endArray()    { j.b = append(j.b, ']'); j.comma = true }

// object opens the object value of key k.
func (j *jsonWriter) object(k string) { j.key(k); j.beginObject() }

// array opens the array value of key k.
func (j *jsonWriter) array(k string) { j.key(k); j.beginArray() }

// emptyArray writes "k":[].
func (j *jsonWriter) emptyArray(k string) { j.array(k); j.endArray() }

func (j *jsonWriter) str(s string) { j.sep(); j.b = appendString(j.b, s); j.comma = true }

func (j *jsonWriter) num(f float64) { j.sep(); j.b = appendFloat(j.b, f); j.comma = true }

func (j *jsonWriter) int(n int64) { j.sep(); j.b = strconv.AppendInt(j.b, n, 10); j.comma = true }

func (j *jsonWriter) bool(v bool) { j.sep(); j.b = strconv.AppendBool(j.b, v); j.comma = true }

// raw writes an already encoded JSON value.
func (j *jsonWriter) raw(v []byte) { j.sep(); j.b = append(j.b, v...); j.comma = true }

func (j *jsonWriter) field(k, v string)            { j.key(k); j.str(v) }
func (j *jsonWriter) numField(k string, v float64) { j.key(k); j.num(v) }
func (j *jsonWriter) intField(k string, v int64)   { j.key(k); j.int(v) }
func (j *jsonWriter) boolField(k string, v bool)   { j.key(k); j.bool(v) }

// rawField writes a field whose value is already encoded.
func (j *jsonWriter) rawField(k string, v []byte) { j.key(k); j.raw(v) }

// idField writes the {"value": v} shape of AgentID, TaskID, FrameworkID and friends.
func (j *jsonWriter) idField(k, v string) {
	j.object(k)
	j.field("value", v)
	j.endObject()
}

// timeField writes a TimeInfo, {"nanoseconds": n}.
func (j *jsonWriter) timeField(k string, t time.Time) { j.nanosField(k, t.UnixNano()) }

// nanosField writes a TimeInfo or DurationInfo, both {"nanoseconds": n}.
func (j *jsonWriter) nanosField(k string, n int64) {
	j.object(k)
	j.intField("nanoseconds", n)
	j.endObject()
}

// bytesField writes a protobuf bytes field, which Mesos' JSON carries in base64.
func (j *jsonWriter) bytesField(k string, v []byte) {
	j.key(k)
	j.sep()
	j.b = append(j.b, '"')
	j.b = base64.StdEncoding.AppendEncode(j.b, v)
	j.b = append(j.b, '"')
	j.comma = true
}

// appendFloat writes a JSON number. JSON has no NaN or infinities; the model never produces them, but
// a broken one must not produce invalid JSON either.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// seconds writes a time as the float seconds Mesos uses for TaskStatus.timestamp and the v0
// endpoints, in decimal from the nanoseconds: exact, and much cheaper than formatting a float.
func (j *jsonWriter) seconds(t time.Time) {
	j.sep()
	j.comma = true
	ns := t.UnixNano()
	if ns < 0 {
		j.b = appendFloat(j.b, seconds(t))
		return
	}
	j.b = strconv.AppendInt(j.b, ns/1e9, 10)
	frac := ns % 1e9
	if frac == 0 {
		return
	}
	var digits [10]byte
	digits[0] = '.'
	for i := 9; i >= 1; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 10
	for digits[n-1] == '0' {
		n--
	}
	j.b = append(j.b, digits[:n]...)
}

// seconds is a time as the float seconds Mesos uses for TaskStatus.timestamp and the v0 endpoints.
func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

const hexDigits = "0123456789abcdef"

// jsonSafe[c] reports whether the byte c stands for itself inside a JSON string.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString writes s as a JSON string: quotes, backslashes and control characters escaped, and
// invalid UTF-8 replaced by U+FFFD (labels and host names come from users).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for i < len(s) && jsonSafe[s[i]] {
		i++
	}
	if i == len(s) { // ids, states, host names: nothing to escape
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
