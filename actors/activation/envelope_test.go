package activation

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/actors/session"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	sess := session.State{Holder: "srv-1", Token: "tok", Gen: 3, ExpiresAt: time.Unix(100, 0)}
	for _, c := range []struct {
		name string
		sess session.State
		doc  string
	}{
		{"free", session.State{}, `{"a":1}`},
		{"held", sess, `{"nested":{"x":[1,2,3]},"s":"\u00e9"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := encodeEnvelope(42, c.sess, nil, nil, []byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) {
				t.Fatalf("not JSON: %s", b)
			}
			e, err := decodeEnvelope(b)
			if err != nil {
				t.Fatal(err)
			}
			if e.Version != 42 || !bytes.Equal(e.Doc, []byte(c.doc)) {
				t.Fatalf("got %+v", e)
			}
			if (e.Session != nil) != (c.sess.Holder != "") {
				t.Fatalf("session %v", e.Session)
			}
			if e.Session != nil && (e.Session.Holder != "srv-1" || e.Session.Token != "tok" || !e.Session.ExpiresAt.IsZero()) {
				t.Fatalf("session %+v (expiry must not be stored)", e.Session)
			}
		})
	}
}

func TestEnvelopeRefusesOtherData(t *testing.T) {
	for _, in := range []string{``, `{}`, `[]`, `{"hearth":2,"version":1,"doc":{}}`, `{"hearth":1,"version":1}`, `{"hearth":1,"version":-1,"doc":{}}`, `{"a":1}`} {
		if _, err := decodeEnvelope([]byte(in)); !errors.Is(err, errBadEnvelope) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"hearth":1,"version":3,"session":{"holder":"a","token":"b","gen":1},"doc":{"x":1}}`))
	f.Add([]byte(`{"hearth":1,"version":0,"doc":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEnvelope(data)
		if err != nil {
			return
		}
		sess := session.State{}
		if e.Session != nil {
			sess = *e.Session
		}
		var keys keyFilter
		if e.Keys != nil {
			keys = *e.Keys
		}
		again, err := encodeEnvelope(e.Version, sess, keys, nil, e.Doc)
		if err != nil {
			return // a session that cannot be encoded is refused at save time
		}
		if _, err := decodeEnvelope(again); err != nil {
			t.Fatalf("re-encoded envelope unreadable: %v\n%s", err, again)
		}
	})
}

func TestRecordsSaveBoundAndCommit(t *testing.T) {
	var r records
	for i := range 5 {
		r.add(&pendingRecord{key: string(rune('a' + i)), result: []byte{byte(i)}, version: int64(i + 1)})
	}
	recs, bound := r.forSave(3)
	if len(recs) != 3 || bound != 3 {
		t.Fatalf("forSave(3) = %d records, bound %d; want 3 and 3 (version 4 left behind)", len(recs), bound)
	}
	r.committed(3)
	if _, p, ok := r.lookup("a"); !ok || p != nil {
		t.Fatal("committed record not remembered as committed")
	}
	if _, p, ok := r.lookup("d"); !ok || p == nil {
		t.Fatal("uncommitted record not pending")
	}
	for i := range recentRecords + 10 {
		r.remember("k"+string(rune(i)), nil)
	}
	if len(r.recent) != recentRecords || len(r.recentOrder) != recentRecords {
		t.Fatalf("recent memory grew to %d", len(r.recent))
	}
}
