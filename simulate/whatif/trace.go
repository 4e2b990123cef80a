package whatif

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/marmot-project/marmot/simulate"
)

// Trace is a per-minute invocation trace in the Azure Functions 2019 format: one row per function,
// one count per minute of a day. Each function becomes a Marathon app opted in to hibernation.
type Trace struct {
	Functions []Function
	// Minutes is the number of minute columns (1440 for a day); the trace repeats after it.
	Minutes int
}

// Function is one row of a trace.
type Function struct {
	// App is the Marathon app id the function becomes: /trace/ and the start of its hash.
	App   string
	Hash  string
	Owner string
	// Trigger is the function's trigger (http, timer, queue…) when the file has the column.
	Trigger string
	// Counts are the invocations per minute.
	Counts []int
}

// Requests returns the function's invocations in minute m of the replay (the trace repeats).
func (f *Function) Requests(m int) int {
	if len(f.Counts) == 0 {
		return 0
	}
	return f.Counts[m%len(f.Counts)]
}

// ParseTrace reads a trace. The header names the columns: HashFunction is required, HashOwner,
// HashApp and Trigger are optional, and the minute columns are named minute_1 … minute_N (the format
// of the sampled traces in vhive-serverless/invitro) or 1 … N (the original day files,
// invocations_per_function_md.anon.dNN.csv), numbered from 1 without gaps. Every problem is reported
// with its line and column.
func ParseTrace(r io.Reader) (*Trace, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("trace: reading the header: %w", err)
	}
	cols, err := traceColumns(header)
	if err != nil {
		return nil, err
	}
	tr := &Trace{Minutes: len(cols.minutes)}
	ids := map[string]int{}
	var errs []error
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trace: %w", err)
		}
		if len(rec) != len(header) {
			errs = append(errs, fmt.Errorf("line %d: %d fields, the header has %d", line, len(rec), len(header)))
			continue
		}
		f, ferrs := parseFunction(rec, cols, line)
		errs = append(errs, ferrs...)
		if len(ferrs) > 0 {
			continue
		}
		// Two hashes with the same start would make the same id: number the later ones.
		if n := ids[f.App]; n > 0 {
			ids[f.App] = n + 1
			f.App += "-" + strconv.Itoa(n+1)
		} else {
			ids[f.App] = 1
		}
		tr.Functions = append(tr.Functions, f)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("trace: %w", errors.Join(errs...))
	}
	if len(tr.Functions) == 0 {
		return nil, errors.New("trace: no function rows")
	}
	return tr, nil
}

type traceCols struct {
	hash, owner, trigger int
	minutes              []int // column of minute 1, 2, …
}

func traceColumns(header []string) (traceCols, error) {
	c := traceCols{hash: -1, owner: -1, trigger: -1}
	byMinute := map[int]int{}
	for i, name := range header {
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
		switch name {
		case "HashFunction":
			c.hash = i
		case "HashOwner":
			c.owner = i
		case "Trigger":
			c.trigger = i
		case "HashApp":
		default:
			n, err := strconv.Atoi(strings.TrimPrefix(name, "minute_"))
			if err != nil || n < 1 {
				return c, fmt.Errorf("trace: header column %d %q is neither HashFunction, HashApp, HashOwner, Trigger nor a minute (minute_N or N)", i+1, name)
			}
			if _, dup := byMinute[n]; dup {
				return c, fmt.Errorf("trace: header column %d: minute %d appears twice", i+1, n)
			}
			byMinute[n] = i
		}
	}
	if c.hash < 0 {
		return c, errors.New("trace: the header has no HashFunction column")
	}
	if len(byMinute) == 0 {
		return c, errors.New("trace: the header has no minute columns (minute_1 … or 1 …)")
	}
	for m := 1; m <= len(byMinute); m++ {
		i, ok := byMinute[m]
		if !ok {
			return c, fmt.Errorf("trace: the header has %d minute columns but no minute %d", len(byMinute), m)
		}
		c.minutes = append(c.minutes, i)
	}
	return c, nil
}

func parseFunction(rec []string, c traceCols, line int) (Function, []error) {
	f := Function{Hash: strings.TrimSpace(rec[c.hash]), Counts: make([]int, len(c.minutes))}
	if c.owner >= 0 {
		f.Owner = strings.TrimSpace(rec[c.owner])
	}
	if c.trigger >= 0 {
		f.Trigger = strings.TrimSpace(rec[c.trigger])
	}
	var errs []error
	f.App = traceAppID(f.Hash)
	if f.App == "" {
		errs = append(errs, fmt.Errorf("line %d: HashFunction %q has no letters or digits to make an app id of", line, f.Hash))
	}
	for m, col := range c.minutes {
		n, err := strconv.Atoi(strings.TrimSpace(rec[col]))
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("line %d, minute %d: %q is not a count of invocations", line, m+1, rec[col]))
			continue
		}
		f.Counts[m] = n
	}
	return f, errs
}

// traceAppID makes a Marathon app id from a function hash: /trace/ and its first 12 letters and
// digits, lowercased (Marathon ids allow no capitals).
func traceAppID(hash string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(hash) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			if b.Len() == 12 {
				break
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	id := "/trace/fn-" + b.String()
	if !simulate.ValidAppID(id) {
		return ""
	}
	return id
}
