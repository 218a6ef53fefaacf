package localstore

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

var (
	t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	// tEpoch is exactly the Unix epoch, which must not be confused with the
	// zero time.
	tEpoch = time.Unix(0, 0).UTC()
)

func TestNodeRoundTrip(t *testing.T) {
	for _, v := range []nodeValue{
		{},
		{Address: "10.0.0.1:7000", Registered: t0, Expires: t0.Add(time.Hour)},
		{Address: "", Registered: tEpoch, Expires: time.Time{}, Released: true},
		{Address: strings.Repeat("a", 300), Registered: t0.Add(-100 * 365 * 24 * time.Hour), Expires: t0.Add(100 * 365 * 24 * time.Hour)},
		{Address: "\x00\xff binary", Registered: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
	} {
		got, err := decodeNode(encodeNode(v))
		if err != nil {
			t.Fatalf("decodeNode(encodeNode(%+v)): %v", v, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("round trip: got %+v, want %+v", got, v)
		}
	}
}

func TestProfileRoundTrip(t *testing.T) {
	for _, v := range []profileValue{
		{},
		{State: persistence.ProfileState{Owner: "node-1", Epoch: 7, Seq: 42, SchemaVersion: 3}, Created: t0},
		{State: persistence.ProfileState{Epoch: 1<<63 - 1, Seq: -1, SchemaVersion: -1 << 63, Deleted: true}, Created: tEpoch},
	} {
		got, err := decodeProfile(encodeProfile(v))
		if err != nil {
			t.Fatalf("decodeProfile(encodeProfile(%+v)): %v", v, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("round trip: got %+v, want %+v", got, v)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, v := range []snapshotValue{
		{Document: []byte{}},
		{Epoch: 3, SchemaVersion: 9, SavedAt: t0, Document: []byte(`{"gold":10}`)},
		{Epoch: 1, SavedAt: tEpoch, Document: bytes.Repeat([]byte{0, 0xff}, 70000)}, // multi-byte length prefix
	} {
		got, err := decodeSnapshot(encodeSnapshot(v))
		if err != nil {
			t.Fatalf("decodeSnapshot: %v", err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("round trip: got %+v, want %+v", got, v)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, v := range []recordValue{
		{Result: []byte{}},
		{Seq: 12, CreatedAt: t0, Result: []byte("receipt ok")},
	} {
		got, err := decodeRecord(encodeRecord(v))
		if err != nil {
			t.Fatalf("decodeRecord: %v", err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("round trip: got %+v, want %+v", got, v)
		}
	}
}

// The encoding is part of the file format: pin one value byte for byte.
func TestRecordEncodingGolden(t *testing.T) {
	got := encodeRecord(recordValue{Seq: 2, CreatedAt: time.Unix(1, 5).UTC(), Result: []byte("ok")})
	want := []byte{
		1,                      // version
		0, 0, 0, 0, 0, 0, 0, 2, // seq
		0, 0, 0, 0, 0, 0, 0, 1, // unix seconds
		0, 0, 0, 5, // nanoseconds
		2, 'o', 'k', // uvarint length, bytes
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encodeRecord = %v, want %v", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := encodeSnapshot(snapshotValue{Epoch: 1, SavedAt: t0, Document: []byte("doc")})
	withVersion := func(v byte) []byte { b := bytes.Clone(good); b[0] = v; return b }
	badNanos := bytes.Clone(good)
	copy(badNanos[1+16+8:], []byte{0x3b, 0x9a, 0xca, 0x00}) // 1e9
	hugeLen := append(bytes.Clone(good[:len(good)-4]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)
	overflowLen := append(bytes.Clone(good[:len(good)-4]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)

	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "version needs 1 bytes"},
		{"version only", []byte{1}, "int64 needs 8 bytes"},
		{"unknown version", withVersion(2), "unsupported value version 2"},
		{"truncated document", good[:len(good)-1], "length 3 exceeds the 2 bytes left"},
		{"trailing", append(bytes.Clone(good), 0), "1 trailing bytes"},
		{"nanoseconds out of range", badNanos, "nanoseconds 1000000000 out of range"},
		{"huge length", hugeLen, "exceeds"},
		{"overflowing uvarint", overflowLen, "bad length prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeSnapshot(tc.b)
			if !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decodeSnapshot(%v) = %v, want errCorrupt containing %q", tc.b, err, tc.want)
			}
		})
	}

	node := encodeNode(nodeValue{Released: true})
	node[len(node)-1] = 2
	if _, err := decodeNode(node); !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), "bool byte 2") {
		t.Errorf("decodeNode(bad bool) = %v", err)
	}
}

func TestDecodedSlicesDoNotAliasBeyondValue(t *testing.T) {
	b := encodeRecord(recordValue{Seq: 1, Result: []byte("ab")})
	v, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if cap(v.Result) != len(v.Result) {
		t.Errorf("decoded slice has spare capacity %d: an append would write into the engine's buffer", cap(v.Result))
	}
}

func TestKeys(t *testing.T) {
	k := persistence.ProfileKey{Namespace: "game", ID: "p1"}
	if got, want := string(profileKeyBytes(k)), "game\x00p1"; got != want {
		t.Errorf("profileKeyBytes = %q, want %q", got, want)
	}
	prefix := profilePrefix(k)
	if got, want := string(prefix), "game\x00p1\x00"; got != want {
		t.Errorf("profilePrefix = %q, want %q", got, want)
	}
	// A longer id that extends this one must not share the prefix.
	if bytes.HasPrefix(snapshotKey(persistence.ProfileKey{Namespace: "game", ID: "p10"}, 1), prefix) {
		t.Error("snapshot key of p10 has p1's prefix")
	}
	// Seqs sort numerically.
	if bytes.Compare(snapshotKey(k, 255), snapshotKey(k, 256)) >= 0 {
		t.Error("snapshot keys do not sort by seq")
	}
	seq, err := parseSnapshotKey(snapshotKey(k, 1<<40+3), len(prefix))
	if err != nil || seq != 1<<40+3 {
		t.Errorf("parseSnapshotKey = %d, %v", seq, err)
	}
	if _, err := parseSnapshotKey(prefix, len(prefix)); !errors.Is(err, errCorrupt) {
		t.Errorf("parseSnapshotKey(short) = %v, want errCorrupt", err)
	}
	seq, rk, err := parseRecordIndexKey(recordIndexKey(k, 9, "receipt-1"), len(prefix))
	if err != nil || seq != 9 || rk != "receipt-1" {
		t.Errorf("parseRecordIndexKey = %d, %q, %v", seq, rk, err)
	}
	if _, _, err := parseRecordIndexKey(snapshotKey(k, 1), len(prefix)); !errors.Is(err, errCorrupt) {
		t.Errorf("parseRecordIndexKey(no record key) = %v, want errCorrupt", err)
	}
	// Index keys order by (seq, key).
	a, b, c := recordIndexKey(k, 1, "zz"), recordIndexKey(k, 2, "a"), recordIndexKey(k, 2, "b")
	if bytes.Compare(a, b) >= 0 || bytes.Compare(b, c) >= 0 {
		t.Error("record index keys do not sort by (seq, key)")
	}
}

// Fuzz targets: decoding arbitrary bytes never panics, and whatever decodes
// re-encodes to something that decodes to the same value.

func FuzzDecodeNode(f *testing.F) {
	f.Add(encodeNode(nodeValue{Address: "a:1", Registered: t0, Expires: t0}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeNode(b)
		if err != nil {
			return
		}
		w, err := decodeNode(encodeNode(v))
		if err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("re-encode: %+v -> %+v, %v", v, w, err)
		}
	})
}

func FuzzDecodeProfile(f *testing.F) {
	f.Add(encodeProfile(profileValue{State: persistence.ProfileState{Owner: "n", Epoch: 1, Seq: 2, SchemaVersion: 3}, Created: t0}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeProfile(b)
		if err != nil {
			return
		}
		w, err := decodeProfile(encodeProfile(v))
		if err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("re-encode: %+v -> %+v, %v", v, w, err)
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(snapshotValue{Epoch: 1, SchemaVersion: 2, SavedAt: t0, Document: []byte("{}")}))
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		w, err := decodeSnapshot(encodeSnapshot(v))
		if err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("re-encode: %+v -> %+v, %v", v, w, err)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(recordValue{Seq: 1, CreatedAt: t0, Result: []byte("ok")}))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeRecord(b)
		if err != nil {
			return
		}
		w, err := decodeRecord(encodeRecord(v))
		if err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("re-encode: %+v -> %+v, %v", v, w, err)
		}
	})
}

func FuzzDecodeKeys(f *testing.F) {
	f.Add([]byte("ns\x00id\x00\x00\x00\x00\x00\x00\x00\x00\x01rk"), 6)
	f.Fuzz(func(t *testing.T, b []byte, prefixLen int) {
		_, _ = parseSnapshotKey(b, prefixLen)
		_, _, _ = parseRecordIndexKey(b, prefixLen)
	})
}
