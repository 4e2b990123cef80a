package marathonapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/marmot-project/marmot/simulate"
)

// appTasks is GET /v2/apps/{id}/tasks.
func (s *server) appTasks(w http.ResponseWriter, id string) {
	var tasks []map[string]any
	s.world.View(func(v *simulate.View) {
		a, ok := v.App(id)
		if !ok {
			return
		}
		tasks = []map[string]any{}
		for _, t := range a.Tasks() {
			tasks = append(tasks, taskJSON(v, t, a))
		}
	})
	if tasks == nil {
		writeAPIError(w, appNotFound(id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": tasks})
}

// killAppTasks is DELETE /v2/apps/{id}/tasks[?host=…][&scale=true]: kill the app's tasks, or those on
// one agent.
func (s *server) killAppTasks(w http.ResponseWriter, r *http.Request, id string) {
	q := query(r.URL.Query())
	host, byHost := q.str("host")
	var ids []string
	found := false
	s.world.View(func(v *simulate.View) {
		a, ok := v.App(id)
		if !ok {
			return
		}
		found = true
		for _, t := range a.Tasks() {
			if !byHost || t.Host == host {
				ids = append(ids, t.ID)
			}
		}
	})
	if !found {
		writeAPIError(w, appNotFound(id))
		return
	}
	s.kill(w, ids, q.flag("scale", false), false)
}

// killAppTask is DELETE /v2/apps/{id}/tasks/{taskId} (go-marathon's KillTask): {"task": …}.
func (s *server) killAppTask(w http.ResponseWriter, r *http.Request, id, taskID string) {
	belongs := false
	s.world.View(func(v *simulate.View) {
		t, ok := v.Task(taskID)
		belongs = ok && t.AppID == simulate.NormalizeAppID(id)
	})
	if !belongs {
		writeAPIError(w, errNotFound("Task '"+taskID+"' does not exist"))
		return
	}
	s.kill(w, []string{taskID}, query(r.URL.Query()).flag("scale", false), true)
}

// killTasks is POST /v2/tasks/delete with {"ids":[…]}. Ids that are not task ids at all are a 400, as
// in Marathon's TasksResource; well-formed ids of unknown tasks are skipped.
func (s *server) killTasks(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if aerr := syntaxError(body); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	var req struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeAPIError(w, errJSONTypes([]detail{{Path: "/ids", Errors: []string{"error.expected.jsarray"}}}))
		return
	}
	for _, id := range req.IDs {
		if !validTaskID(id) {
			writeError(w, http.StatusBadRequest, "Invalid task id '"+id+"'.")
			return
		}
	}
	s.kill(w, req.IDs, query(r.URL.Query()).flag("scale", false), false)
}

// validTaskID accepts Marathon's task id form: the app id with '/' as '_', a '.', and a unique part.
func validTaskID(id string) bool {
	i := strings.LastIndex(id, ".")
	return i > 0 && i < len(id)-1
}

// kill kills tasks and answers with what was killed. With scale=true Marathon answers with the
// deployment of the scale-down; the model scales down without a deployment, so it answers with the
// tasks either way (go-marathon reads both answers as Tasks).
func (s *server) kill(w http.ResponseWriter, ids []string, scale, single bool) {
	killed, err := s.world.KillTasks(ids, scale)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []map[string]any{}
	s.world.View(func(v *simulate.View) {
		for i := range killed {
			a, _ := v.App(killed[i].AppID)
			out = append(out, taskJSON(v, &killed[i], a))
		}
	})
	if single {
		if len(out) == 0 {
			writeAPIError(w, errNotFound("Task '"+ids[0]+"' does not exist"))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"task": out[0]})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

// listTasks is GET /v2/tasks[?status=…]: every task of every app.
func (s *server) listTasks(w http.ResponseWriter, r *http.Request) {
	states, filtered := query(r.URL.Query()).taskStates()
	out := []map[string]any{}
	s.world.View(func(v *simulate.View) {
		for _, a := range v.Apps() {
			for _, t := range a.Tasks() {
				if !filtered || states[t.State] {
					out = append(out, taskJSON(v, t, a))
				}
			}
		}
	})
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}
