package activation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hearth-profiles/hearth/actors/session"
)

// envelopeFormat marks the stored form. A snapshot's Document is not the
// bare profile: it also carries the document version (so expected-version
// checks and Watch versions continue across activations) and the session (so
// a game server's session survives a drain or rebalance to another node).
const envelopeFormat = 1

// envelope is the stored form of a snapshot's document.
type envelope struct {
	Format  int            `json:"hearth"`
	Version int64          `json:"version"`
	Session *session.State `json:"session,omitempty"`
	// Keys is the Bloom filter of the profile's idempotency keys
	// (keyfilter.go); nil (absent) in snapshots written without one, which
	// the loader treats as "any key may exist".
	Keys *keyFilter `json:"keys,omitempty"`
	// Users are the user ids associated with the profile (for erasure).
	Users []string        `json:"users,omitempty"`
	Doc   json.RawMessage `json:"doc"`
}

// errBadEnvelope reports a stored document this node cannot read.
var errBadEnvelope = errors.New("stored document is not a hearth envelope")

// encodeEnvelope wraps an encoded document. It writes the JSON by hand so the
// (possibly megabytes of) document bytes are copied once, not re-validated
// and re-indented by encoding/json.
func encodeEnvelope(version int64, sess session.State, keys keyFilter, users []string, doc []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(doc) + 128)
	buf.WriteString(`{"hearth":`)
	buf.WriteString(strconv.Itoa(envelopeFormat))
	buf.WriteString(`,"version":`)
	buf.WriteString(strconv.FormatInt(version, 10))
	if sess.Holder != "" {
		s, err := json.Marshal(sess)
		if err != nil {
			return nil, fmt.Errorf("encode session: %w", err)
		}
		buf.WriteString(`,"session":`)
		buf.Write(s)
	}
	// Always written, even empty (two bytes of base64), so a loader can tell
	// "no keys" from "written before filters existed".
	k, err := json.Marshal(keys) // keyFilter.MarshalJSON: compact form
	if err != nil {
		return nil, fmt.Errorf("encode key filter: %w", err)
	}
	buf.WriteString(`,"keys":`)
	buf.Write(k)
	if len(users) > 0 {
		u, err := json.Marshal(users)
		if err != nil {
			return nil, fmt.Errorf("encode user ids: %w", err)
		}
		buf.WriteString(`,"users":`)
		buf.Write(u)
	}
	buf.WriteString(`,"doc":`)
	buf.Write(doc)
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// decodeEnvelope reads the stored form. The document stays encoded; the
// caller decodes it with the document package's limits.
func decodeEnvelope(data []byte) (envelope, error) {
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return envelope{}, fmt.Errorf("%w: %v", errBadEnvelope, err)
	}
	if e.Format != envelopeFormat {
		return envelope{}, fmt.Errorf("%w: format %d (this node reads %d)", errBadEnvelope, e.Format, envelopeFormat)
	}
	if len(e.Doc) == 0 {
		return envelope{}, fmt.Errorf("%w: no document", errBadEnvelope)
	}
	if e.Version < 0 {
		return envelope{}, fmt.Errorf("%w: negative version %d", errBadEnvelope, e.Version)
	}
	return e, nil
}

// DecodeStored reads a stored snapshot document (the envelope) into the
// profile's JSON and its document version, for tools that read the store
// directly (the load tester's verifier, operations scripts).
func DecodeStored(data []byte) (doc []byte, version int64, err error) {
	e, err := decodeEnvelope(data)
	if err != nil {
		return nil, 0, err
	}
	return e.Doc, e.Version, nil
}

// EncodeStored wraps a document (JSON) at version in the stored form, for
// tools that write profiles through the store and tests.
func EncodeStored(version int64, doc []byte) ([]byte, error) {
	return encodeEnvelope(version, session.State{}, nil, nil, doc)
}

// StoredUsers reads the user ids a stored snapshot carries.
func StoredUsers(data []byte) ([]string, error) {
	e, err := decodeEnvelope(data)
	if err != nil {
		return nil, err
	}
	return e.Users, nil
}
