package mesosapi

import (
	"net/http"

	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// Protobuf replies (application/x-protobuf, mesos-go's default codec) are transcoded from the JSON
// this package renders, through mesos-go's generated master.Response and master.Event: one renderer
// serves both encodings, and the protobuf side decodes exactly what mesos-go's JSON codec would.

type protoMessage interface {
	UnmarshalJSON([]byte) error
	Marshal() ([]byte, error)
}

func (e format) transcode(js []byte, m protoMessage) ([]byte, error) {
	if !e.protobuf {
		return js, nil
	}
	if err := m.UnmarshalJSON(js); err != nil {
		return nil, fail(http.StatusInternalServerError, "encoding the reply as protobuf: "+err.Error())
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, fail(http.StatusInternalServerError, "encoding the reply as protobuf: "+err.Error())
	}
	return b, nil
}

// response encodes a master::Response rendered as JSON.
func (e format) response(js []byte) ([]byte, error) { return e.transcode(js, &master.Response{}) }

// event encodes a master::Event rendered as JSON.
func (e format) event(js []byte) ([]byte, error) { return e.transcode(js, &master.Event{}) }
