package marathonapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/marmot-project/marmot/simulate"
)

// apiError is an error answer in Marathon's JSON envelope (MarathonExceptionMapper): always "message";
// "details" for 400 and 422; "deployments" for the 409 of a deployment lock, which is what go-marathon
// uses to tell ErrCodeAppLocked from ErrCodeDuplicateID.
type apiError struct {
	status      int
	message     string
	details     any // []detail, or the parser's text for a JSON syntax error
	deployments []string
}

// detail is one entry of "details": a JSON path and what is wrong there.
type detail struct {
	Path   string   `json:"path"`
	Errors []string `json:"errors"`
}

func (e *apiError) Error() string { return e.message }

func (e *apiError) body() map[string]any {
	b := map[string]any{"message": e.message}
	if e.details != nil {
		b["details"] = e.details
	}
	if e.deployments != nil {
		ids := make([]map[string]string, len(e.deployments))
		for i, id := range e.deployments {
			ids[i] = map[string]string{"id": id}
		}
		b["deployments"] = ids
	}
	return b
}

func errNotFound(msg string) *apiError { return &apiError{status: http.StatusNotFound, message: msg} }

// errInvalid is Marathon's 422 for a definition that violates a rule.
func errInvalid(details []detail) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, message: "Object is not valid", details: details}
}

// errJSONTypes is Marathon's 400 for JSON of the wrong shape (play-json's JsResultException).
func errJSONTypes(details []detail) *apiError {
	return &apiError{status: http.StatusBadRequest, message: "Invalid JSON", details: details}
}

// fromModel maps a model error to Marathon's status and envelope.
func fromModel(err error) *apiError {
	var me *simulate.Error
	if !errors.As(err, &me) {
		return &apiError{status: http.StatusInternalServerError, message: err.Error()}
	}
	switch me.Kind {
	case simulate.KindNotFound:
		return errNotFound(me.Message)
	case simulate.KindConflict:
		return &apiError{status: http.StatusConflict, message: me.Message}
	case simulate.KindLocked:
		return &apiError{status: http.StatusConflict, message: me.Message, deployments: me.Deployments}
	case simulate.KindInvalid:
		return &apiError{status: http.StatusUnprocessableEntity, message: me.Message, details: detailLines(me.Code)}
	case simulate.KindBadRequest:
		return &apiError{status: http.StatusBadRequest, message: me.Message}
	case simulate.KindUnavailable:
		return &apiError{status: http.StatusServiceUnavailable, message: me.Message}
	}
	return &apiError{status: http.StatusInternalServerError, message: me.Error()}
}

// detailLines turns the model's validation lines ("/path: message", one per line) into details grouped
// by path, in the order the paths first appear.
func detailLines(code string) []detail {
	var out []detail
	index := map[string]int{}
	for _, line := range strings.Split(code, "\n") {
		if line == "" {
			continue
		}
		path, msg, ok := strings.Cut(line, ": ")
		if !ok {
			path, msg = "/", line
		}
		i, seen := index[path]
		if !seen {
			i = len(out)
			index[path] = i
			out = append(out, detail{Path: path})
		}
		out[i].Errors = append(out[i].Errors, msg)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"message":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeAPIError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e.body()) }

func writeError(w http.ResponseWriter, status int, message string) {
	writeAPIError(w, &apiError{status: status, message: message})
}

// writeErr answers err, which is an *apiError or a model error.
func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeAPIError(w, ae)
		return
	}
	writeAPIError(w, fromModel(err))
}
