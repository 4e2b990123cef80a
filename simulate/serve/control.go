package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/marmot-project/marmot/simulate"
)

// maxControlBody bounds a control request body.
const maxControlBody = 64 << 10

// Summary is the control endpoint's view of the world: what the demo prints and tests poll.
type Summary struct {
	Time         time.Time      `json:"time"`
	Scenario     string         `json:"scenario"`
	Agents       int            `json:"agents"`
	AgentsByPool map[string]int `json:"agents_by_pool"`
	Apps         int            `json:"apps"`
	AppsAtZero   int            `json:"apps_at_zero"`
	Tasks        int            `json:"tasks"`
	Waiting      int            `json:"waiting_instances"`
	Deployments  int            `json:"deployments"`
	CPUsTotal    float64        `json:"cpus_total"`
	CPUsUsed     float64        `json:"cpus_used"`
	Groups       []GroupSummary `json:"groups"`
	// CostPerHour is the on-demand (or current spot) price of the instances running now, USD.
	CostPerHour float64        `json:"cost_per_hour"`
	Stats       simulate.Stats `json:"stats"`
}

// GroupSummary is one Auto Scaling group in the summary.
type GroupSummary struct {
	Name      string `json:"name"`
	Pool      string `json:"pool"`
	Min       int    `json:"min"`
	Max       int    `json:"max"`
	Desired   int    `json:"desired"`
	InService int    `json:"in_service"`
	Pending   int    `json:"pending"`
}

// Summarize reads a Summary off the world.
func Summarize(w *simulate.World) Summary {
	s := Summary{AgentsByPool: map[string]int{}, Scenario: w.Scenario().Name, Stats: w.Stats()}
	w.View(func(v *simulate.View) {
		s.Time = v.Now()
		types := map[string]simulate.InstanceType{}
		for _, t := range v.InstanceTypes() {
			types[t.Name] = t
		}
		for _, a := range v.Agents() {
			s.Agents++
			s.AgentsByPool[a.Pool]++
			s.CPUsTotal += a.Total.CPUs
			s.CPUsUsed += a.Allocated.CPUs
		}
		for _, app := range v.Apps() {
			s.Apps++
			if app.Instances == 0 {
				s.AppsAtZero++
			}
			s.Tasks += len(app.Tasks())
		}
		for _, q := range v.Queue() {
			s.Waiting += q.Count
		}
		s.Deployments = len(v.Deployments())
		for _, g := range v.Groups() {
			gs := GroupSummary{Name: g.Name, Pool: g.Pool, Min: g.Min, Max: g.Max, Desired: g.Desired}
			for _, i := range g.Instances() {
				switch i.Lifecycle {
				case simulate.LifecycleInService:
					gs.InService++
				case simulate.LifecyclePending:
					gs.Pending++
				}
			}
			s.Groups = append(s.Groups, gs)
		}
		for _, i := range v.Instances() {
			if i.State == simulate.InstanceRunning || i.State == simulate.InstancePending {
				s.CostPerHour += instancePrice(v, types, i)
			}
		}
	})
	return s
}

func instancePrice(v *simulate.View, types map[string]simulate.InstanceType, i *simulate.Instance) float64 {
	if i.Spot {
		if h := v.SpotPriceHistory([]string{i.Type}, []string{i.AZ}, v.Now(), v.Now()); len(h) > 0 {
			return h[0].Price
		}
	}
	return types[i.Type].PriceHour
}

// Line is the summary as one line of text, for the demo's live output.
func (s Summary) Line() string {
	pools := make([]string, 0, len(s.AgentsByPool))
	for p, n := range s.AgentsByPool {
		pools = append(pools, fmt.Sprintf("%s=%d", p, n))
	}
	sort.Strings(pools)
	util := 0.0
	if s.CPUsTotal > 0 {
		util = 100 * s.CPUsUsed / s.CPUsTotal
	}
	return fmt.Sprintf("%s  agents %d (%s)  tasks %d  waiting %d  apps at zero %d/%d  cpu %.0f%%  $%.2f/h",
		s.Time.UTC().Format("2006-01-02 15:04"), s.Agents, strings.Join(pools, " "), s.Tasks, s.Waiting,
		s.AppsAtZero, s.Apps, util, s.CostPerHour)
}

// faultRequest is a fault as the control endpoint accepts it: like simulate.Fault, with the delay as
// a duration string ("2s").
type faultRequest struct {
	simulate.Fault
	Delay string `json:"delay,omitempty"`
}

// ParseFault decodes a control request body into a fault; every problem is reported with its field.
func ParseFault(body []byte) (simulate.Fault, error) {
	var fr faultRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		return simulate.Fault{}, fmt.Errorf("fault: %w", err)
	}
	f := fr.Fault
	if fr.Delay != "" {
		d, err := time.ParseDuration(fr.Delay)
		if err != nil {
			return simulate.Fault{}, fmt.Errorf("fault.delay: %q is not a duration, e.g. \"2s\"", fr.Delay)
		}
		f.Delay = d
	}
	if errs := f.Validate("fault"); len(errs) > 0 {
		return simulate.Fault{}, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return f, nil
}

// ControlHandler serves the simulator's own endpoints:
//
//	GET  /healthz         200 ok
//	GET  /summary         Summary as JSON
//	POST /faults          inject a fault: {"kind":"aws_throttle","count":5}
//	POST /apps/rate       set an app's offered load: {"app":"/web/docs","rps":3}
func ControlHandler(w *simulate.World) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /summary", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, http.StatusOK, Summarize(w))
	})
	mux.HandleFunc("POST /faults", func(rw http.ResponseWriter, req *http.Request) {
		body, err := readBody(rw, req)
		if err != nil {
			writeJSON(rw, http.StatusRequestEntityTooLarge, map[string]string{"error": err.Error()})
			return
		}
		f, err := ParseFault(body)
		if err != nil {
			writeJSON(rw, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := w.InjectFault(f); err != nil {
			writeJSON(rw, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(rw, http.StatusOK, map[string]string{"injected": string(f.Kind)})
	})
	mux.HandleFunc("POST /apps/rate", func(rw http.ResponseWriter, req *http.Request) {
		var r struct {
			App string  `json:"app"`
			RPS float64 `json:"rps"`
		}
		body, err := readBody(rw, req)
		if err == nil {
			err = json.Unmarshal(body, &r)
		}
		if err == nil && (r.App == "" || r.RPS < 0) {
			err = fmt.Errorf("app: required; rps: must be 0 or more")
		}
		if err == nil {
			err = w.SetRequestRate(r.App, r.RPS)
		}
		if err != nil {
			writeJSON(rw, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(rw, http.StatusOK, r)
	})
	return mux
}

func readBody(rw http.ResponseWriter, req *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(rw, req.Body, maxControlBody))
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	enc := json.NewEncoder(rw)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
