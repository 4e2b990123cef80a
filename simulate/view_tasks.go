package simulate

// SubscribeTaskEvents delivers the same task and agent events as a Mesos SUBSCRIBE stream, but is not
// tied to a master's leadership: it is for the simulator's own machinery (the real task listeners),
// which must follow tasks across Mesos leader changes. Like every subscription it closes when the
// subscriber falls behind; the subscriber then resynchronises from a View.
func (w *World) SubscribeTaskEvents(buffer int) *Subscription[MesosEvent] {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mesosEvents.add(buffer, &w.mu)
}

// RunningTask is a task the simulator should have a real listener for.
type RunningTask struct {
	ID         string
	AppID      string
	IP         string
	Ports      []uint64
	HealthPath string
}

// RunningTasks returns the tasks in state TASK_RUNNING (or being killed), with what a real listener
// for each needs to know.
func (v *View) RunningTasks() []RunningTask {
	var out []RunningTask
	for _, t := range v.w.tasks {
		if t.State != TaskRunning && t.State != TaskKilling {
			continue
		}
		rt := RunningTask{ID: t.ID, AppID: t.AppID, IP: t.IP, Ports: append([]uint64(nil), t.Ports...)}
		if app, ok := v.w.apps[t.AppID]; ok && len(app.HealthChecks) > 0 {
			rt.HealthPath = app.HealthChecks[0].Path
		}
		out = append(out, rt)
	}
	return out
}
