package hibernator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/marmot-project/marmot/policy"
)

// NginxLogFormat is the access log format the nginx source reads. Put it in nginx's http block and log
// every server that fronts opted-in apps with it (docs/hibernation-policy.md):
//
//	access_log /var/log/nginx/marmot.log marmot;
//
// Fields are separated by one space; the two that may contain spaces are quoted, and nginx escapes a
// quote inside a value as \x22, so a quote always ends a field. $time_iso8601 is when the request
// finished, which is when the app was last in use.
const NginxLogFormat = `log_format marmot '$time_iso8601 $host $status $request_method "$request_uri" "$http_user_agent" $request_time';`

// AccessLogLine is one request of an nginx access log in NginxLogFormat.
type AccessLogLine struct {
	Time   time.Time
	Host   string // $host as nginx logged it; normalise before use
	Status int
	Method string
	// URI is $request_uri: the path and query as the client sent them.
	URI       string
	UserAgent string
	Duration  time.Duration // $request_time
}

// Path returns the URI without its query.
func (l AccessLogLine) Path() string {
	p, _, _ := strings.Cut(l.URI, "?")
	return p
}

// accessLogFields are the fields of NginxLogFormat, in order; quoted ones are marked.
var accessLogFields = [...]struct {
	name   string
	quoted bool
}{
	{"time_iso8601", false}, {"host", false}, {"status", false}, {"request_method", false},
	{"request_uri", true}, {"http_user_agent", true}, {"request_time", false},
}

// ParseAccessLogLine parses one line (without its newline) in NginxLogFormat. The error names the field
// that does not fit.
func ParseAccessLogLine(line string) (AccessLogLine, error) {
	line = strings.TrimSuffix(line, "\r")
	var f [len(accessLogFields)]string
	rest := line
	for i, spec := range accessLogFields {
		if i > 0 {
			if !strings.HasPrefix(rest, " ") {
				return AccessLogLine{}, fmt.Errorf("access log: missing %s: the line is not in the marmot log_format", spec.name)
			}
			rest = rest[1:]
		}
		if spec.quoted {
			if !strings.HasPrefix(rest, `"`) {
				return AccessLogLine{}, fmt.Errorf("access log: %s is not quoted: the line is not in the marmot log_format", spec.name)
			}
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return AccessLogLine{}, fmt.Errorf("access log: %s has no closing quote: truncated line?", spec.name)
			}
			f[i], rest = rest[1:1+end], rest[2+end:]
			continue
		}
		end := strings.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		f[i], rest = rest[:end], rest[end:]
	}
	if rest != "" {
		return AccessLogLine{}, fmt.Errorf("access log: %d unexpected bytes after request_time: the line is not in the marmot log_format", len(rest))
	}

	var l AccessLogLine
	var err error
	if l.Time, err = time.Parse(time.RFC3339, f[0]); err != nil {
		return AccessLogLine{}, fmt.Errorf("access log: time_iso8601 %q is not an ISO 8601 time", f[0])
	}
	if l.Status, err = strconv.Atoi(f[2]); err != nil || len(f[2]) != 3 || l.Status < 0 {
		return AccessLogLine{}, fmt.Errorf("access log: status %q is not a 3-digit status", f[2])
	}
	secs, err := strconv.ParseFloat(f[6], 64)
	if err != nil || secs < 0 || secs > 1e9 {
		return AccessLogLine{}, fmt.Errorf("access log: request_time %q is not a number of seconds", f[6])
	}
	l.Host, l.Method, l.URI, l.UserAgent = f[1], f[3], f[4], f[5]
	l.Duration = time.Duration(secs * float64(time.Second))
	return l, nil
}

// RequestFilter says which requests do not count as use of an app.
type RequestFilter interface {
	Ignored(path, userAgent string) bool
}

var _ RequestFilter = (*policy.TrafficPolicy)(nil)

// NginxAccessLogConfig configures an NginxAccessLog source.
type NginxAccessLogConfig struct {
	// Path is the access log nginx writes in NginxLogFormat.
	Path string
	// Name identifies the source; "nginx:" and the path by default.
	Name string
	// Traffic says which requests do not count (ignored paths and user agents); nil counts them all.
	// A *policy.TrafficPolicy is one; the hibernator passes one that follows policy reloads.
	Traffic RequestFilter
	// RotateGrace is how long a log renamed away is still read after it stopped growing, once nginx
	// writes the new one; 1m by default.
	RotateGrace time.Duration
	// MaxHosts bounds the hosts remembered; past it the source is stale until old hosts age out (Host
	// headers come from clients, so their number is not ours to choose). 50,000 by default.
	MaxHosts int
}

const (
	maxAccessLogLine = 16 << 10
	readChunk        = 64 << 10
	tailCheckBytes   = 64
	hostRetention    = 7 * 24 * time.Hour
)

// NginxAccessLogStats counts what the source has read, for metrics.
type NginxAccessLogStats struct {
	Lines        uint64 // complete lines read
	Counted      uint64 // requests counted for a host
	Ignored      uint64 // requests that do not count (policy's ignored paths and user agents)
	Unattributed uint64 // requests with a host name that does not normalise (nginx's default server, junk)
	Malformed    uint64 // lines not in NginxLogFormat, or longer than 16 KiB
	Rotations    uint64 // the log was renamed away and a new one appeared
	Truncations  uint64 // the log was truncated in place (copytruncate)
	Future       uint64 // requests whose time was ahead of the hibernator's clock, counted as read
}

// NginxAccessLog is a TrafficSource that follows an nginx access log in NginxLogFormat, as nixy or any
// nginx in front of Marathon apps writes it, and reports per host the last request.
//
// It polls: each Traffic call reads what was appended since the previous one. It starts at the end of
// the log (what came before it started is unknown, which Since says), and follows rotation:
//   - rename (logrotate's default, with nginx reopening its log on USR1): the renamed file is read to its
//     end, and kept open and read until nginx writes the new file and the old one has not grown for
//     RotateGrace, so no line written before or during the rotation is lost;
//   - copytruncate: a file that shrank, or whose bytes before the read position changed, is read again
//     from the start. Lines nginx wrote between the last read and the truncation are in the copy, which
//     is not read: prefer rename rotation.
//
// The source is stale while the log cannot be read, and from the first line that is not in
// NginxLogFormat until a line that is: a wrong log_format must not make every app look idle.
type NginxAccessLog struct {
	cfg NginxAccessLogConfig

	mu       sync.Mutex
	cur      *logFile   // the file at Path, as last opened
	rotated  []*logFile // files renamed away, still read until nginx has moved on
	since    time.Time
	asOf     time.Time
	hosts    map[string]TrafficSeen
	badLines uint64 // malformed lines since the last good one
	lastBad  string
	ahead    time.Duration // how far ahead of the clock the latest future request time was
	stats    NginxAccessLogStats
}

// logFile is one open log file and how far it has been read.
type logFile struct {
	f        *os.File
	info     fs.FileInfo
	offset   int64
	partial  []byte // a line not yet ended
	skipping bool   // inside an over-long line, dropping bytes up to its end
	tail     []byte // the last bytes before offset, to notice a truncate-and-rewrite
	grewAt   time.Time
}

// NewNginxAccessLog returns a source for the log at cfg.Path. It opens the log on the first Traffic.
func NewNginxAccessLog(cfg NginxAccessLogConfig) *NginxAccessLog {
	if cfg.Name == "" {
		cfg.Name = "nginx:" + cfg.Path
	}
	if cfg.RotateGrace <= 0 {
		cfg.RotateGrace = time.Minute
	}
	if cfg.MaxHosts <= 0 {
		cfg.MaxHosts = 50_000
	}
	return &NginxAccessLog{cfg: cfg, hosts: map[string]TrafficSeen{}}
}

// Name implements TrafficSource.
func (n *NginxAccessLog) Name() string { return n.cfg.Name }

// Stats returns the counts so far.
func (n *NginxAccessLog) Stats() NginxAccessLogStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Close closes the open files. The source reopens the log if used again.
func (n *NginxAccessLog) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, lf := range append(n.rotated, n.cur) {
		if lf != nil {
			errs = append(errs, lf.f.Close())
		}
	}
	n.cur, n.rotated = nil, nil
	return errors.Join(errs...)
}

// Traffic implements TrafficSource: it reads the lines appended since the last call.
func (n *NginxAccessLog) Traffic(ctx context.Context, now time.Time) (TrafficReport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	err := n.poll(ctx, now)
	if err == nil && n.badLines > 0 {
		err = fmt.Errorf("nginx log %s: %d line(s) since the last good one are not in the marmot log_format, e.g. %q", n.cfg.Path, n.badLines, n.lastBad)
	}
	if err == nil && len(n.hosts) >= n.cfg.MaxHosts {
		err = fmt.Errorf("nginx log %s: more than %d hosts seen in %s", n.cfg.Path, n.cfg.MaxHosts, hostRetention)
	}
	if err == nil {
		n.asOf = now
	}
	r := TrafficReport{AsOf: n.asOf, Since: n.since, Hosts: make(map[string]TrafficSeen, len(n.hosts)), Future: n.stats.Future, Ahead: n.ahead}
	for h, s := range n.hosts {
		r.Hosts[h] = s
	}
	return r, err
}

// poll reads everything new: first the rotated files, then the current one, then it checks whether
// the path now names another file. Callers hold n.mu.
func (n *NginxAccessLog) poll(ctx context.Context, now time.Time) error {
	n.pruneHosts(now)
	if n.cur == nil {
		lf, err := openLog(n.cfg.Path, now)
		if err != nil {
			return err
		}
		// The first open starts at the end: what came before is history, not traffic seen.
		lf.offset = lf.info.Size()
		lf.loadTail()
		n.cur = lf
		if n.since.IsZero() {
			n.since = now
		}
	}
	kept := n.rotated[:0]
	for _, lf := range n.rotated {
		grew, err := n.read(ctx, lf, now)
		if err != nil {
			return err
		}
		if grew || n.cur.info.Size() == 0 || now.Sub(lf.grewAt) < n.cfg.RotateGrace {
			// nginx may still be writing it: it has not written the new file yet, or only just.
			kept = append(kept, lf)
			continue
		}
		n.flushPartial(lf, now)
		lf.f.Close()
	}
	n.rotated = kept

	if _, err := n.read(ctx, n.cur, now); err != nil {
		return err
	}
	info, err := os.Stat(n.cfg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		// Renamed away and not yet recreated: nginx still writes the old file, which is read above.
		return fmt.Errorf("nginx log %s: missing (rotated, and nginx has not reopened it yet?)", n.cfg.Path)
	}
	if err != nil {
		return fmt.Errorf("nginx log: %w", err)
	}
	if os.SameFile(info, n.cur.info) {
		return nil
	}
	// Renamed away and a new file in its place: keep reading the old one, start the new one at 0.
	n.stats.Rotations++
	lf, err := openLog(n.cfg.Path, now)
	if err != nil {
		return err
	}
	n.rotated = append(n.rotated, n.cur)
	n.cur = lf
	_, err = n.read(ctx, lf, now)
	return err
}

func openLog(path string, now time.Time) (*logFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nginx log: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("nginx log: %w", err)
	}
	return &logFile{f: f, info: info, grewAt: now}, nil
}

// read reads lf from its offset to its end, and reports whether it grew. A file that shrank, or whose
// bytes before the offset are no longer those read, was truncated in place and is read from the start.
func (n *NginxAccessLog) read(ctx context.Context, lf *logFile, now time.Time) (grew bool, err error) {
	info, err := lf.f.Stat()
	if err != nil {
		return false, fmt.Errorf("nginx log: %w", err)
	}
	lf.info = info
	if info.Size() < lf.offset || !lf.tailMatches() {
		n.stats.Truncations++
		lf.offset, lf.partial, lf.skipping, lf.tail = 0, nil, false, nil
	}
	buf := make([]byte, readChunk)
	for {
		if err := ctx.Err(); err != nil {
			return grew, err
		}
		k, err := lf.f.ReadAt(buf, lf.offset)
		if k > 0 {
			grew = true
			lf.grewAt = now
			lf.offset += int64(k)
			lf.remember(buf[:k])
			n.consume(lf, buf[:k], now)
		}
		if errors.Is(err, io.EOF) {
			return grew, nil
		}
		if err != nil {
			return grew, fmt.Errorf("nginx log: %w", err)
		}
	}
}

// tailMatches reports whether the bytes just before lf.offset are still those last read.
func (lf *logFile) tailMatches() bool {
	if len(lf.tail) == 0 {
		return true
	}
	b := make([]byte, len(lf.tail))
	k, _ := lf.f.ReadAt(b, lf.offset-int64(len(lf.tail)))
	return k == len(b) && bytes.Equal(b, lf.tail)
}

// loadTail remembers the bytes before the offset, when the file is opened somewhere in the middle.
func (lf *logFile) loadTail() {
	start := max(lf.offset-tailCheckBytes, 0)
	b := make([]byte, lf.offset-start)
	if k, _ := lf.f.ReadAt(b, start); k == len(b) {
		lf.tail = b
	}
}

func (lf *logFile) remember(b []byte) {
	if len(b) >= tailCheckBytes {
		lf.tail = append(lf.tail[:0], b[len(b)-tailCheckBytes:]...)
		return
	}
	lf.tail = append(lf.tail, b...)
	if extra := len(lf.tail) - tailCheckBytes; extra > 0 {
		lf.tail = lf.tail[extra:]
	}
}

// consume splits b into lines, joining the partial line carried over from the previous read; now is
// when they are read.
func (n *NginxAccessLog) consume(lf *logFile, b []byte, now time.Time) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if !lf.skipping {
				lf.partial = append(lf.partial, b...)
				if len(lf.partial) > maxAccessLogLine {
					lf.partial, lf.skipping = nil, true
				}
			}
			return
		}
		if lf.skipping {
			lf.skipping = false
			n.bad("(a line longer than 16 KiB)")
		} else if len(lf.partial)+i > maxAccessLogLine {
			n.bad("(a line longer than 16 KiB)")
		} else {
			line := b[:i]
			if len(lf.partial) > 0 {
				line = append(lf.partial, line...)
			}
			n.line(string(line), now)
		}
		lf.partial = lf.partial[:0]
		b = b[i+1:]
	}
}

// flushPartial takes a last line without a newline as complete: the file is no longer written.
func (n *NginxAccessLog) flushPartial(lf *logFile, now time.Time) {
	if len(lf.partial) > 0 && !lf.skipping {
		n.line(string(lf.partial), now)
	}
	lf.partial = nil
}

// line counts one line read at now. A request time ahead of now (nginx's clock runs ahead of ours)
// counts as now: the request cannot have ended after the line was read, and the host's Last, kept
// from read to read, stays that first sighting (see skew.go).
func (n *NginxAccessLog) line(s string, now time.Time) {
	if s == "" || s == "\r" {
		return // nginx writes none; a stray newline says nothing about traffic or the format
	}
	n.stats.Lines++
	l, err := ParseAccessLogLine(s)
	if err != nil {
		n.bad(s)
		return
	}
	n.badLines = 0
	if n.cfg.Traffic != nil && n.cfg.Traffic.Ignored(l.Path(), l.UserAgent) {
		n.stats.Ignored++
		return
	}
	host, err := policy.NormalizeHost(l.Host)
	if err != nil {
		n.stats.Unattributed++
		return
	}
	seen, ok := n.hosts[host]
	if !ok && len(n.hosts) >= n.cfg.MaxHosts {
		n.stats.Unattributed++
		return
	}
	at := l.Time
	if at.After(now) {
		n.stats.Future++
		n.ahead = at.Sub(now)
		at = now
	}
	seen.merge(TrafficSeen{Last: at, Requests: 1})
	n.hosts[host] = seen
	n.stats.Counted++
}

func (n *NginxAccessLog) bad(s string) {
	n.stats.Malformed++
	n.badLines++
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	n.lastBad = s
}

// pruneHosts forgets hosts not seen for a week, so that junk Host headers do not pile up.
func (n *NginxAccessLog) pruneHosts(now time.Time) {
	for h, s := range n.hosts {
		if now.Sub(s.Last) > hostRetention {
			delete(n.hosts, h)
		}
	}
}
