package localstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// On-disk layout.
//
// Keys. A profile's keys start with namespace \x00 id \x00. The naming rules
// (persistence.ValidateNamespace / ValidateProfileID) exclude \x00 from both,
// so the separator is unambiguous: no (namespace, id) pair's prefix is a
// prefix of another pair's, and a prefix scan sees exactly one profile.
// Sequence numbers are 8-byte big-endian so byte order is numeric order
// (they are positive int64s). Record keys are printable ASCII and come last,
// so they need no terminator.
//
//	profiles   ns \x00 id                         -> profileValue
//	snapshots  ns \x00 id \x00 seq                -> snapshotValue
//	records    ns \x00 id \x00 recordKey          -> recordValue
//	recidx     ns \x00 id \x00 seq recordKey      -> (empty)   paging in (Seq, Key) order
//	nodes      nodeID                             -> nodeValue
//	users      userID \x00 ns \x00 id              -> (empty)   UserIndex
//	profusers  ns \x00 id \x00 userID              -> (empty)   a profile's user ids
//
// Values. Every value starts with a version byte (valueVersion), followed by
// its fields in a fixed order: int64s as 8 bytes big-endian, times as int64
// Unix seconds + uint32 nanoseconds (UTC; the zero time round-trips), bools as
// one byte 0/1, strings and byte slices as a uvarint length then the bytes.
// A value must be consumed exactly; trailing bytes are corruption.
//
// Decoders never panic on arbitrary input (see the Fuzz tests): they return
// errCorrupt-wrapped errors. Decoded byte slices alias the input; callers copy
// them before a bbolt transaction ends.

// valueVersion is the encoding version of every value written.
const valueVersion byte = 1

// errCorrupt wraps every decoding failure.
var errCorrupt = errors.New("localstore: corrupt value")

// nodeValue is a node incarnation. A released node keeps its entry (a
// tombstone with Released set and Expires moved to the release time) so its
// id can never be registered again and its lease is judged lapsed.
type nodeValue struct {
	Address    string
	Registered time.Time
	Expires    time.Time
	Released   bool
}

// profileValue is a profile's ownership state. State.Deleted marks a
// tombstone left by Delete (see persistence.ProfileState); a tombstone's
// Created is when the profile was erased (zero for one erased before that
// was recorded), which PruneTombstones judges.
type profileValue struct {
	State   persistence.ProfileState
	Created time.Time
}

// snapshotValue is one saved document.
type snapshotValue struct {
	Epoch         int64
	SchemaVersion int64
	SavedAt       time.Time
	Document      []byte
}

// recordValue is one idempotency record.
type recordValue struct {
	Seq       int64
	CreatedAt time.Time
	Result    []byte
}

// ---- keys ----

func profileKeyBytes(k persistence.ProfileKey) []byte {
	b := make([]byte, 0, len(k.Namespace)+1+len(k.ID))
	b = append(b, k.Namespace...)
	b = append(b, 0)
	return append(b, k.ID...)
}

// profilePrefix is the prefix of every snapshot, record and index key of k.
func profilePrefix(k persistence.ProfileKey) []byte {
	b := make([]byte, 0, len(k.Namespace)+len(k.ID)+2+8+persistence.MaxRecordKeyLen)
	b = append(b, k.Namespace...)
	b = append(b, 0)
	b = append(b, k.ID...)
	return append(b, 0)
}

func snapshotKey(k persistence.ProfileKey, seq int64) []byte {
	return binary.BigEndian.AppendUint64(profilePrefix(k), uint64(seq))
}

// parseSnapshotKey returns the seq of a snapshot key under a prefix of
// length prefixLen.
func parseSnapshotKey(key []byte, prefixLen int) (int64, error) {
	if prefixLen < 0 || prefixLen > len(key) || len(key)-prefixLen != 8 {
		return 0, fmt.Errorf("%w: snapshot key of %d bytes, want %d", errCorrupt, len(key), prefixLen+8)
	}
	return int64(binary.BigEndian.Uint64(key[prefixLen:])), nil
}

func recordKeyBytes(k persistence.ProfileKey, recordKey string) []byte {
	return append(profilePrefix(k), recordKey...)
}

func recordIndexKey(k persistence.ProfileKey, seq int64, recordKey string) []byte {
	b := binary.BigEndian.AppendUint64(profilePrefix(k), uint64(seq))
	return append(b, recordKey...)
}

// parseRecordIndexKey splits an index key under a prefix of length prefixLen.
func parseRecordIndexKey(key []byte, prefixLen int) (int64, string, error) {
	if prefixLen < 0 || prefixLen > len(key) || len(key)-prefixLen <= 8 {
		return 0, "", fmt.Errorf("%w: record index key of %d bytes, want more than %d", errCorrupt, len(key), prefixLen+8)
	}
	seq := int64(binary.BigEndian.Uint64(key[prefixLen : prefixLen+8]))
	return seq, string(key[prefixLen+8:]), nil
}

// ---- values ----

func encodeNode(v nodeValue) []byte {
	e := encoder{b: make([]byte, 0, 1+binary.MaxVarintLen64+len(v.Address)+12+12+1)}
	e.u8(valueVersion)
	e.str(v.Address)
	e.time(v.Registered)
	e.time(v.Expires)
	e.bool(v.Released)
	return e.b
}

func decodeNode(b []byte) (nodeValue, error) {
	d := decoder{b: b, what: "node"}
	d.version()
	var v nodeValue
	v.Address = d.str()
	v.Registered = d.time()
	v.Expires = d.time()
	v.Released = d.bool()
	return v, d.finish()
}

func encodeProfile(v profileValue) []byte {
	e := encoder{b: make([]byte, 0, 1+binary.MaxVarintLen64+len(v.State.Owner)+3*8+12+1)}
	e.u8(valueVersion)
	e.str(v.State.Owner)
	e.i64(v.State.Epoch)
	e.i64(v.State.Seq)
	e.i64(v.State.SchemaVersion)
	e.time(v.Created)
	e.bool(v.State.Deleted)
	return e.b
}

func decodeProfile(b []byte) (profileValue, error) {
	d := decoder{b: b, what: "profile"}
	d.version()
	var v profileValue
	v.State.Owner = d.str()
	v.State.Epoch = d.i64()
	v.State.Seq = d.i64()
	v.State.SchemaVersion = d.i64()
	v.Created = d.time()
	v.State.Deleted = d.bool()
	return v, d.finish()
}

func encodeSnapshot(v snapshotValue) []byte {
	e := encoder{b: make([]byte, 0, 1+2*8+12+binary.MaxVarintLen64+len(v.Document))}
	e.u8(valueVersion)
	e.i64(v.Epoch)
	e.i64(v.SchemaVersion)
	e.time(v.SavedAt)
	e.bytes(v.Document)
	return e.b
}

// decodeSnapshot decodes a snapshot; Document aliases b.
func decodeSnapshot(b []byte) (snapshotValue, error) {
	d := decoder{b: b, what: "snapshot"}
	d.version()
	var v snapshotValue
	v.Epoch = d.i64()
	v.SchemaVersion = d.i64()
	v.SavedAt = d.time()
	v.Document = d.bytes()
	return v, d.finish()
}

func encodeRecord(v recordValue) []byte {
	e := encoder{b: make([]byte, 0, 1+8+12+binary.MaxVarintLen64+len(v.Result))}
	e.u8(valueVersion)
	e.i64(v.Seq)
	e.time(v.CreatedAt)
	e.bytes(v.Result)
	return e.b
}

// decodeRecord decodes a record; Result aliases b.
func decodeRecord(b []byte) (recordValue, error) {
	d := decoder{b: b, what: "record"}
	d.version()
	var v recordValue
	v.Seq = d.i64()
	v.CreatedAt = d.time()
	v.Result = d.bytes()
	return v, d.finish()
}

// ---- primitives ----

type encoder struct{ b []byte }

func (e *encoder) u8(v byte)   { e.b = append(e.b, v) }
func (e *encoder) i64(v int64) { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *encoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) bytes(p []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// time writes Unix seconds and nanoseconds; the location and any monotonic
// reading are dropped (values read back are UTC).
func (e *encoder) time(t time.Time) {
	e.i64(t.Unix())
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(t.Nanosecond()))
}

// decoder reads fields in order; the first failure sticks and later reads
// return zero values, so decode functions check once at the end.
type decoder struct {
	b    []byte
	what string
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", errCorrupt, d.what, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("%s needs %d bytes, %d left", field, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) version() {
	p := d.take(1, "version")
	if d.err == nil && p[0] != valueVersion {
		d.fail("unsupported value version %d (this build reads %d)", p[0], valueVersion)
	}
}

func (d *decoder) u8(field string) byte {
	p := d.take(1, field)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) i64() int64 {
	p := d.take(8, "int64")
	if p == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(p))
}

func (d *decoder) bool() bool {
	switch v := d.u8("bool"); {
	case d.err != nil:
		return false
	case v == 0:
		return false
	case v == 1:
		return true
	default:
		d.fail("bool byte %d", v)
		return false
	}
}

func (d *decoder) time() time.Time {
	sec := d.i64()
	p := d.take(4, "nanoseconds")
	if p == nil {
		return time.Time{}
	}
	ns := binary.BigEndian.Uint32(p)
	if ns >= 1e9 {
		d.fail("nanoseconds %d out of range", ns)
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func (d *decoder) bytes() []byte {
	if d.err != nil {
		return nil
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail("bad length prefix")
		return nil
	}
	if n > uint64(len(d.b)-k) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.b)-k)
		return nil
	}
	d.b = d.b[k:]
	return d.take(int(n), "bytes")
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}
