package marathon

import (
	"context"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	gomarathon "github.com/gambol99/go-marathon"
)

// App is what Marmot reads of a Marathon app.
type App struct {
	ID           string
	Instances    int
	CPUs         float64
	Mem          float64
	Disk         float64
	GPUs         float64
	Labels       map[string]string
	Constraints  [][]string
	Roles        []string // acceptedResourceRoles
	HealthPath   string   // path of the first HTTP health check, if any
	HealthPort   int      // its port index
	TasksRunning int
	TasksStaged  int
	TasksHealthy int
	Deployments  []string
	Tasks        []Task // only from App (single-app GET embeds them)
	Version      time.Time
	LastScaling  time.Time
}

// Task is a running (or starting) instance of an app.
type Task struct {
	ID        string
	AppID     string
	Host      string
	AgentID   string
	Ports     []int
	State     string
	Healthy   *bool // nil when the app has no health check results
	StagedAt  time.Time
	StartedAt time.Time
	Version   time.Time
}

// Addr is the task's host:port for its port index i ("" when it has no such port).
func (t Task) Addr(i int) string {
	if i < 0 || i >= len(t.Ports) {
		return ""
	}
	return t.Host + ":" + itoa(t.Ports[i])
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func fromApp(a *gomarathon.Application) App {
	out := App{ID: a.ID, CPUs: a.CPUs, TasksRunning: a.TasksRunning, TasksStaged: a.TasksStaged, TasksHealthy: a.TasksHealthy, Version: parseTime(a.Version)}
	if a.Instances != nil {
		out.Instances = *a.Instances
	}
	if a.Mem != nil {
		out.Mem = *a.Mem
	}
	if a.Disk != nil {
		out.Disk = *a.Disk
	}
	if a.GPUs != nil {
		out.GPUs = *a.GPUs
	}
	out.Labels = map[string]string{}
	if a.Labels != nil {
		for k, v := range *a.Labels {
			out.Labels[k] = v
		}
	}
	if a.Constraints != nil {
		out.Constraints = *a.Constraints
	}
	out.Roles = a.AcceptedResourceRoles
	if a.HealthChecks != nil {
		for _, hc := range *a.HealthChecks {
			if hc.Path != nil && strings.Contains(strings.ToUpper(hc.Protocol), "HTTP") {
				out.HealthPath = *hc.Path
				if hc.PortIndex != nil {
					out.HealthPort = *hc.PortIndex
				}
				break
			}
		}
	}
	for _, d := range a.Deployments {
		if id := d["id"]; id != "" {
			out.Deployments = append(out.Deployments, id)
		}
	}
	if a.VersionInfo != nil {
		out.LastScaling = parseTime(a.VersionInfo.LastScalingAt)
	}
	for _, t := range a.Tasks {
		out.Tasks = append(out.Tasks, fromTask(t))
	}
	return out
}

func fromTask(t *gomarathon.Task) Task {
	out := Task{ID: t.ID, AppID: t.AppID, Host: t.Host, AgentID: t.SlaveID, Ports: t.Ports, State: t.State,
		StagedAt: parseTime(t.StagedAt), StartedAt: parseTime(t.StartedAt), Version: parseTime(t.Version)}
	if len(t.HealthCheckResults) > 0 {
		alive := true
		for _, r := range t.HealthCheckResults {
			alive = alive && r != nil && r.Alive
		}
		out.Healthy = &alive
	}
	return out
}

// Apps lists the apps matching a label selector (Marathon syntax, e.g. "marmot.hibernate==true"; ""
// for all). It is a read; it does not embed tasks (use App for those).
func (c *Client) Apps(ctx context.Context, selector string) ([]App, error) {
	var apps []App
	err := c.do(ctx, func(m gomarathon.Marathon) error {
		v := url.Values{}
		if selector != "" {
			v.Set("label", selector)
		}
		list, err := m.Applications(v)
		if err != nil {
			return err
		}
		apps = make([]App, 0, len(list.Apps))
		for i := range list.Apps {
			apps = append(apps, fromApp(&list.Apps[i]))
		}
		return nil
	})
	sort.Slice(apps, func(i, j int) bool { return apps[i].ID < apps[j].ID })
	return apps, err
}

// App reads one app with its tasks. A missing app returns ErrNotFound.
func (c *Client) App(ctx context.Context, id string) (App, error) {
	var app App
	err := c.do(ctx, func(m gomarathon.Marathon) error {
		a, err := m.Application(id)
		if err != nil {
			return err
		}
		app = fromApp(a)
		return nil
	})
	return app, err
}

// Update is a change to an app. Nil fields are left alone (Marathon's partialUpdate); Labels, when set,
// replace the app's whole label map, so pass every label the app should keep.
type Update struct {
	Instances *int
	Labels    map[string]string
}

// Update changes an app in one PUT and returns the deployment id. It fails with a *LockedError
// (errors.Is ErrLocked) when a deployment holds the app and force is false. Not idempotent as to
// deployments: each call starts one. Changing labels makes Marathon restart the app's tasks.
func (c *Client) Update(ctx context.Context, id string, u Update, force bool) (string, error) {
	var dep string
	err := c.do(ctx, func(m gomarathon.Marathon) error {
		app := &gomarathon.Application{ID: id, Instances: u.Instances}
		if u.Labels != nil {
			labels := make(map[string]string, len(u.Labels))
			for k, v := range u.Labels {
				labels[k] = v
			}
			app.Labels = &labels
		}
		d, err := m.UpdateApplication(app, force)
		if err != nil {
			return err
		}
		dep = d.DeploymentID
		return nil
	})
	return dep, err
}

// Deployment is a running Marathon deployment.
type Deployment struct {
	ID           string
	AffectedApps []string
	Version      time.Time
}

// Deployments lists the running deployments.
func (c *Client) Deployments(ctx context.Context) ([]Deployment, error) {
	var out []Deployment
	err := c.do(ctx, func(m gomarathon.Marathon) error {
		list, err := m.Deployments()
		if err != nil {
			return err
		}
		out = out[:0]
		for _, d := range list {
			out = append(out, Deployment{ID: d.ID, AffectedApps: d.AffectedApps, Version: parseTime(d.Version)})
		}
		return nil
	})
	return out, err
}

// QueueEntry is an app waiting in Marathon's launch queue.
type QueueEntry struct {
	AppID       string
	Count       int // instances still to launch
	Role        string
	Since       time.Time
	Overdue     bool          // waiting for offers (not in launch backoff)
	DelayLeft   time.Duration // launch backoff left
	CPUs        float64
	Mem         float64
	Disk        float64
	GPUs        float64
	Constraints [][]string
	Labels      map[string]string
	Processed   int
	Unused      int
	// Declined counts, per rejection reason (Marathon's names: InsufficientCpus, UnfulfilledConstraint,
	// ...), the offers of the last round declined first for that reason.
	Declined map[string]int
}

// Queue reads Marathon's launch queue with the offer-rejection summary of each entry.
func (c *Client) Queue(ctx context.Context) ([]QueueEntry, error) {
	var out []QueueEntry
	err := c.do(ctx, func(m gomarathon.Marathon) error {
		q, err := m.Queue()
		if err != nil {
			return err
		}
		out = out[:0]
		for _, it := range q.Items {
			if it.Application == nil {
				continue // pods are not ours to scale for
			}
			out = append(out, fromQueueItem(it))
		}
		return nil
	})
	return out, err
}

func fromQueueItem(it gomarathon.Item) QueueEntry {
	app := fromApp(it.Application)
	e := QueueEntry{
		AppID: app.ID, Count: it.Count, Role: it.Role, Since: parseTime(it.Since), Overdue: it.Delay.Overdue,
		DelayLeft: time.Duration(it.Delay.TimeLeftSeconds) * time.Second,
		CPUs:      app.CPUs, Mem: app.Mem, Disk: app.Disk, GPUs: app.GPUs, Constraints: app.Constraints, Labels: app.Labels,
		Processed: int(it.ProcessedOffersSummary.ProcessedOffersCount),
		Unused:    int(it.ProcessedOffersSummary.UnusedOffersCount),
		Declined:  map[string]int{},
	}
	for _, step := range it.ProcessedOffersSummary.RejectSummaryLastOffers {
		if step.Declined > 0 {
			e.Declined[step.Reason] = int(step.Declined)
		}
	}
	return e
}

// Ping checks that some Marathon instance answers /ping.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, func(m gomarathon.Marathon) error {
		_, err := m.Ping()
		return err
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
