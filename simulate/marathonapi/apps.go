package marathonapi

import (
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/marmot-project/marmot/simulate"
)

// maxBody bounds a request body; an app definition with a large env is a few tens of kilobytes.
const maxBody = 4 << 20

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		return nil, false
	}
	return body, true
}

// deploymentResult answers a change that started a deployment: the body and the header Marathon sends
// (the header lets go-marathon read the id of a DELETE, wire-facts §4).
func deploymentResult(w http.ResponseWriter, status int, ref simulate.DeploymentRef) {
	w.Header().Set(headerDeploymentID, ref.ID)
	writeJSON(w, status, map[string]any{"deploymentId": ref.ID, "version": timestamp(ref.Version)})
}

func appNotFound(id string) *apiError {
	return errNotFound("App '" + simulate.NormalizeAppID(id) + "' does not exist")
}

// listApps is GET /v2/apps with the id, cmd and label filters.
func (s *server) listApps(w http.ResponseWriter, r *http.Request) {
	q := query(r.URL.Query())
	var sel selector
	if label, ok := q.str("label"); ok {
		var err error
		if sel, err = parseSelector(label); err != nil {
			// LabelSelectorParsers.parsed throws IllegalArgumentException, which Marathon maps to 422.
			writeError(w, http.StatusUnprocessableEntity, "Can not parse label selector "+label+". Reason: "+err.Error())
			return
		}
	}
	idFilter, byID := q.str("id")
	cmdFilter, byCmd := q.str("cmd")
	e := q.appEmbed()
	apps := []map[string]any{}
	s.world.View(func(v *simulate.View) {
		for _, a := range v.Apps() {
			// Marathon's AppsResource.search: case-insensitive "contains" for id and cmd.
			if byID && !containsFold(a.ID, idFilter) || byCmd && (a.Cmd == "" || !containsFold(a.Cmd, cmdFilter)) {
				continue
			}
			if sel != nil && !sel.matches(a.Labels) {
				continue
			}
			apps = append(apps, appStatus(v, a, e))
		}
	})
	writeJSON(w, http.StatusOK, map[string]any{"apps": apps})
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// createApp is POST /v2/apps: 201 with the new app and its Location, 409 when the id exists.
func (s *server) createApp(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	def, aerr := decodeAppDef(body)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if def.id == "" {
		writeAPIError(w, errInvalid([]detail{{Path: "/id", Errors: []string{"error.path.missing"}}}))
		return
	}
	def.forApp(def.id)
	_, ref, err := s.world.CreateApp(simulate.NewAppSpec(def.id, def.update))
	if err != nil {
		writeErr(w, err)
		return
	}
	id := simulate.NormalizeAppID(def.id)
	var out map[string]any
	s.world.View(func(v *simulate.View) {
		if a, ok := v.App(id); ok {
			out = appStatus(v, a, embed{})
		}
	})
	if out == nil { // already gone again; answer with what was created
		out = map[string]any{"id": id}
	}
	out["deployments"] = []map[string]string{{"id": ref.ID}}
	w.Header().Set("Location", "/v2/apps"+id)
	w.Header().Set(headerDeploymentID, ref.ID)
	writeJSON(w, http.StatusCreated, out)
}

// updateApps is PUT and PATCH /v2/apps: several apps in one request, always as partial updates. PUT
// creates the unknown ones, PATCH refuses them. Marathon makes one deployment of them all; the model
// deploys apps one by one, so locks are checked for all before anything changes, and the answer names
// the first app's deployment.
func (s *server) updateApps(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	defs, aerr := decodeAppDefs(body)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	q := query(r.URL.Query())
	force := q.flag("force", false)
	patch := r.Method == http.MethodPatch
	var missing []detail
	for i, d := range defs {
		if d.id == "" {
			missing = append(missing, detail{Path: "/" + strconv.Itoa(i) + "/id", Errors: []string{"error.path.missing"}})
		}
	}
	if len(missing) > 0 {
		writeAPIError(w, errInvalid(missing))
		return
	}
	if err := s.precheck(defs, patch, force); err != nil {
		writeAPIError(w, err)
		return
	}
	var first simulate.DeploymentRef
	for i, d := range defs {
		d.forApp(d.id)
		ref, _, err := s.world.UpdateApp(d.id, d.update, force)
		if err != nil {
			writeErr(w, err)
			return
		}
		if i == 0 {
			first = ref
		}
	}
	deploymentResult(w, http.StatusOK, first)
}

// precheck refuses a multi-app change that would fail part-way: an unknown app for PATCH, a locked app
// without force.
func (s *server) precheck(defs []appDef, patch, force bool) *apiError {
	var err *apiError
	s.world.View(func(v *simulate.View) {
		var locks []string
		for _, d := range defs {
			a, ok := v.App(d.id)
			if !ok {
				if patch {
					err = appNotFound(d.id)
					return
				}
				continue
			}
			if dep := a.Deployment(); dep != nil && !force {
				locks = append(locks, dep.ID)
			}
		}
		if len(locks) > 0 {
			err = &apiError{status: http.StatusConflict, deployments: locks,
				message: "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'."}
		}
	})
	return err
}

// appSubtree routes /v2/apps/{id}[/restart|/tasks[/{taskId}]|/versions[/{version}]]. App ids contain
// slashes, so the suffixes are recognised from the end, as Marathon's {id:.+} paths do.
func (s *server) appSubtree(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v2/apps/")
	method := r.Method
	allow := func(methods ...string) bool {
		for _, m := range methods {
			if method == m || (m == http.MethodGet && method == http.MethodHead) {
				return true
			}
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeError(w, http.StatusMethodNotAllowed, "HTTP method "+method+" is not supported by this URL")
		return false
	}
	switch {
	case strings.HasSuffix(rest, "/restart"):
		if allow(http.MethodPost) {
			s.restartApp(w, r, strings.TrimSuffix(rest, "/restart"))
		}
	case strings.HasSuffix(rest, "/tasks"):
		id := strings.TrimSuffix(rest, "/tasks")
		if allow(http.MethodGet, http.MethodDelete) {
			if method == http.MethodDelete {
				s.killAppTasks(w, r, id)
			} else {
				s.appTasks(w, id)
			}
		}
	case lastSegmentAfter(rest, "/tasks/"):
		i := strings.LastIndex(rest, "/tasks/")
		if allow(http.MethodDelete) {
			s.killAppTask(w, r, rest[:i], rest[i+len("/tasks/"):])
		}
	case strings.HasSuffix(rest, "/versions"):
		if allow(http.MethodGet) {
			s.appVersions(w, strings.TrimSuffix(rest, "/versions"))
		}
	case lastSegmentAfter(rest, "/versions/"):
		i := strings.LastIndex(rest, "/versions/")
		if allow(http.MethodGet) {
			s.appVersion(w, rest[:i], rest[i+len("/versions/"):])
		}
	default:
		if !allow(http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete) {
			return
		}
		switch method {
		case http.MethodPut, http.MethodPatch:
			s.updateApp(w, r, rest)
		case http.MethodDelete:
			s.deleteApp(w, r, rest)
		default:
			s.getApp(w, rest)
		}
	}
}

// lastSegmentAfter reports whether path ends with sep followed by one non-empty segment.
func lastSegmentAfter(path, sep string) bool {
	i := strings.LastIndex(path, sep)
	if i <= 0 {
		return false
	}
	last := path[i+len(sep):]
	return last != "" && !strings.Contains(last, "/")
}

// getApp is GET /v2/apps/{id}: {"app": …} with tasks, counts, deployments and lastTaskFailure, which
// Marathon always embeds here.
func (s *server) getApp(w http.ResponseWriter, id string) {
	var out map[string]any
	s.world.View(func(v *simulate.View) {
		if a, ok := v.App(id); ok {
			out = appStatus(v, a, embed{tasks: true, lastTaskFailure: true})
		}
	})
	if out == nil {
		writeAPIError(w, appNotFound(id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": out})
}

// updateApp is PUT and PATCH /v2/apps/{id}. PUT has PATCH semantics unless partialUpdate=false and
// creates a missing app (201); PATCH never creates. The id in the body does not count: the path names
// the app.
func (s *server) updateApp(w http.ResponseWriter, r *http.Request, id string) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	def, aerr := decodeAppDef(body)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	def.forApp(id)
	q := query(r.URL.Query())
	patch := r.Method == http.MethodPatch
	partial := patch || q.flag("partialUpdate", true)
	exists, extraKeys := false, []string(nil)
	s.world.View(func(v *simulate.View) {
		if a, ok := v.App(id); ok {
			exists = true
			for k := range a.Extra {
				extraKeys = append(extraKeys, k)
			}
		}
	})
	if patch && !exists {
		writeAPIError(w, appNotFound(id))
		return
	}
	u := def.update
	if !partial {
		sort.Strings(extraKeys)
		u = def.replacement(simulate.NewAppSpec(id, simulate.AppUpdate{}), extraKeys)
	}
	ref, created, err := s.world.UpdateApp(id, u, q.flag("force", false))
	if err != nil {
		writeErr(w, err)
		return
	}
	if created {
		w.Header().Set("Location", "/v2/apps"+simulate.NormalizeAppID(id))
		deploymentResult(w, http.StatusCreated, ref)
		return
	}
	deploymentResult(w, http.StatusOK, ref)
}

// deleteApp is DELETE /v2/apps/{id}; force defaults to true here (AppsResource.delete).
func (s *server) deleteApp(w http.ResponseWriter, r *http.Request, id string) {
	ref, err := s.world.DeleteApp(id, query(r.URL.Query()).flag("force", true))
	if err != nil {
		writeErr(w, err)
		return
	}
	deploymentResult(w, http.StatusOK, ref)
}

// restartApp is POST /v2/apps/{id}/restart.
func (s *server) restartApp(w http.ResponseWriter, r *http.Request, id string) {
	ref, err := s.world.RestartApp(id, query(r.URL.Query()).flag("force", false))
	if err != nil {
		writeErr(w, err)
		return
	}
	deploymentResult(w, http.StatusOK, ref)
}

// appVersions is GET /v2/apps/{id}/versions. The model keeps only the current version.
func (s *server) appVersions(w http.ResponseWriter, id string) {
	var version any
	s.world.View(func(v *simulate.View) {
		if a, ok := v.App(id); ok {
			version = timestamp(a.Version)
		}
	})
	if version == nil {
		writeAPIError(w, appNotFound(id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{version}})
}

// appVersion is GET /v2/apps/{id}/versions/{version}: the definition at that version, which the model
// has only for the current one.
func (s *server) appVersion(w http.ResponseWriter, id, version string) {
	var out map[string]any
	s.world.View(func(v *simulate.View) {
		if a, ok := v.App(id); ok && timestamp(a.Version) == version {
			out = appDefinition(a)
		}
	})
	if out == nil {
		writeAPIError(w, errNotFound("App '"+simulate.NormalizeAppID(id)+"' does not exist in version "+version))
		return
	}
	writeJSON(w, http.StatusOK, out)
}
