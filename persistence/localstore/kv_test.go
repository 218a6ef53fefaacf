package localstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

// engines returns a fresh engine of each kind, closed at cleanup.
func engines(t *testing.T) map[string]kvEngine {
	t.Helper()
	b, err := openBolt(filepath.Join(t.TempDir(), "kv.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.initSchema(); err != nil {
		t.Fatal(err)
	}
	m := newMemEngine()
	t.Cleanup(func() { _ = b.Close(); _ = m.Close() })
	return map[string]kvEngine{"bolt": b, "memory": m}
}

func put(t *testing.T, e kvEngine, bucket []byte, kv ...string) {
	t.Helper()
	err := e.Update(func(tx kvTx) error {
		for i := 0; i < len(kv); i += 2 {
			if err := tx.Put(bucket, []byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func scan(t *testing.T, e kvEngine, bucket []byte, prefix, start string, limit int) []string {
	t.Helper()
	var out []string
	err := e.View(func(tx kvTx) error {
		var st []byte
		if start != "" {
			st = []byte(start)
		}
		return tx.Scan(bucket, []byte(prefix), st, func(k, v []byte) (bool, error) {
			out = append(out, string(k)+"="+string(v))
			return len(out) < limit, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEngineScan(t *testing.T) {
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			put(t, e, bucketRecords, "a\x00x", "1", "b\x00a", "2", "b\x00b", "3", "b\x00c", "4", "b\x01", "5", "c", "6")
			for _, tc := range []struct {
				prefix, start string
				limit         int
				want          []string
			}{
				{"b\x00", "", 10, []string{"b\x00a=2", "b\x00b=3", "b\x00c=4"}},
				{"b\x00", "b\x00b", 10, []string{"b\x00b=3", "b\x00c=4"}},
				{"b\x00", "b\x00bb", 10, []string{"b\x00c=4"}},
				{"b\x00", "a", 10, []string{"b\x00a=2", "b\x00b=3", "b\x00c=4"}}, // start before prefix
				{"b\x00", "b\x01", 10, nil},                                      // start after prefix
				{"b\x00", "", 2, []string{"b\x00a=2", "b\x00b=3"}},
				{"", "", 100, []string{"a\x00x=1", "b\x00a=2", "b\x00b=3", "b\x00c=4", "b\x01=5", "c=6"}},
				{"zz", "", 10, nil},
			} {
				if got := scan(t, e, bucketRecords, tc.prefix, tc.start, tc.limit); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("Scan(%q, %q, limit %d) = %q, want %q", tc.prefix, tc.start, tc.limit, got, tc.want)
				}
			}
			// A callback error stops the scan and is returned.
			boom := errors.New("boom")
			err := e.View(func(tx kvTx) error {
				return tx.Scan(bucketRecords, nil, nil, func(k, v []byte) (bool, error) { return true, boom })
			})
			if !errors.Is(err, boom) {
				t.Errorf("Scan callback error = %v, want boom", err)
			}
		})
	}
}

// A failed Update leaves nothing behind: not its puts, not its deletes, in
// any bucket, and later transactions see the state from before it.
func TestEngineUpdateIsAtomic(t *testing.T) {
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			put(t, e, bucketNodes, "keep", "old", "gone", "old")
			boom := errors.New("boom")
			err := e.Update(func(tx kvTx) error {
				for i := 0; i < 1000; i++ { // enough to split B-tree nodes
					if err := tx.Put(bucketSnapshots, []byte(fmt.Sprintf("k%04d", i)), []byte("v")); err != nil {
						return err
					}
				}
				if err := tx.Put(bucketNodes, []byte("keep"), []byte("new")); err != nil {
					return err
				}
				if err := tx.Delete(bucketNodes, []byte("gone")); err != nil {
					return err
				}
				// The transaction sees its own writes.
				if got := string(tx.Get(bucketNodes, []byte("keep"))); got != "new" {
					t.Errorf("in-tx Get = %q, want new", got)
				}
				if tx.Get(bucketNodes, []byte("gone")) != nil {
					t.Error("in-tx Get of a deleted key is not nil")
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("Update = %v, want boom", err)
			}
			if got := scan(t, e, bucketNodes, "", "", 10); !reflect.DeepEqual(got, []string{"gone=old", "keep=old"}) {
				t.Errorf("nodes after failed Update = %q", got)
			}
			if got := scan(t, e, bucketSnapshots, "", "", 10); got != nil {
				t.Errorf("snapshots after failed Update = %q, want none", got)
			}
			// And the engine still works.
			put(t, e, bucketNodes, "keep", "newer")
			if got := scan(t, e, bucketNodes, "keep", "", 10); !reflect.DeepEqual(got, []string{"keep=newer"}) {
				t.Errorf("after a later Update = %q", got)
			}
		})
	}
}

// A panicking Update in the memory engine leaves nothing behind either, and
// does not leave the engine locked.
func TestMemEnginePanicRollsBack(t *testing.T) {
	e := newMemEngine()
	put(t, e, bucketNodes, "a", "1")
	func() {
		defer func() { _ = recover() }()
		_ = e.Update(func(tx kvTx) error {
			_ = tx.Put(bucketNodes, []byte("a"), []byte("2"))
			panic("boom")
		})
	}()
	if got := scan(t, e, bucketNodes, "", "", 10); !reflect.DeepEqual(got, []string{"a=1"}) {
		t.Errorf("after panicking Update = %q", got)
	}
}

// Values handed out by the memory engine stay intact when later
// transactions overwrite the key, and callers' buffers are copied on Put.
func TestMemEngineValueOwnership(t *testing.T) {
	e := newMemEngine()
	buf := []byte("one")
	if err := e.Update(func(tx kvTx) error { return tx.Put(bucketNodes, []byte("k"), buf) }); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X'
	var held []byte
	_ = e.View(func(tx kvTx) error { held = tx.Get(bucketNodes, []byte("k")); return nil })
	put(t, e, bucketNodes, "k", "two")
	if string(held) != "one" {
		t.Errorf("value read earlier = %q, want one", held)
	}
}

func TestEngineReadOnlyView(t *testing.T) {
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			err := e.View(func(tx kvTx) error { return tx.Put(bucketNodes, []byte("k"), []byte("v")) })
			if err == nil {
				t.Error("Put in a View succeeded")
			}
			err = e.View(func(tx kvTx) error { return tx.Delete(bucketNodes, []byte("k")) })
			if err == nil {
				t.Error("Delete in a View succeeded")
			}
		})
	}
}

func TestEngineClosed(t *testing.T) {
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if err := e.View(func(kvTx) error { return nil }); err == nil {
				t.Error("View on a closed engine succeeded")
			}
			if err := e.Update(func(kvTx) error { return nil }); err == nil {
				t.Error("Update on a closed engine succeeded")
			}
		})
	}
}
