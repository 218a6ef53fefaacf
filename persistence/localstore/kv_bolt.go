package localstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// lockTimeout bounds the wait for bbolt's exclusive file lock, so a second
// process opening the same file fails with a clear error instead of hanging.
const lockTimeout = time.Second

// boltEngine is the file engine: one bbolt database, one bbolt bucket per
// kv bucket. bbolt transactions are already atomic (a failed Update rolls
// back), serialise writers and let readers run concurrently.
type boltEngine struct {
	db *bolt.DB
}

func openBolt(path string, noSync bool) (*boltEngine, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("localstore: create directory for %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      lockTimeout,
		NoSync:       noSync,
		FreelistType: bolt.FreelistMapType, // faster than the array freelist for large files
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("localstore: open %s: the file is locked by another process (waited %s); only one node may use a local store: %w",
			path, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("localstore: open %s: %w", path, err)
	}
	return &boltEngine{db: db}, nil
}

func (e *boltEngine) Update(fn func(kvTx) error) error {
	return e.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (e *boltEngine) View(fn func(kvTx) error) error {
	return e.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (e *boltEngine) Close() error { return e.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) bucket(name []byte) (*bolt.Bucket, error) {
	b := t.tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("localstore: no bucket %q", name)
	}
	return b, nil
}

func (t boltTx) Get(bucket, key []byte) []byte {
	b, err := t.bucket(bucket)
	if err != nil {
		return nil
	}
	return b.Get(key)
}

func (t boltTx) Put(bucket, key, val []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if !t.tx.Writable() {
		return errReadOnly
	}
	if val == nil {
		val = []byte{} // bbolt treats a nil value like an empty one; be explicit
	}
	return b.Put(key, val)
}

func (t boltTx) Delete(bucket, key []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if !t.tx.Writable() {
		return errReadOnly
	}
	return b.Delete(key)
}

func (t boltTx) Scan(bucket, prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	from := prefix
	if bytes.Compare(start, prefix) > 0 {
		from = start
	}
	c := b.Cursor()
	k, v := c.First()
	if len(from) > 0 {
		k, v = c.Seek(from)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

const (
	// fileFormat identifies a localstore file in the meta bucket.
	fileFormat = "hearth-localstore"
	// schemaVersion is the layout version of the buckets, keys and values.
	// Bump it (and write a migration) when the layout changes incompatibly.
	schemaVersion uint32 = 1
)

var (
	metaFormatKey = []byte("format")
	metaSchemaKey = []byte("schema")
)

// initSchema sets up a new file (every bucket, the format tag and the schema
// version) or checks an existing one: a bbolt file that is not a localstore,
// or one written with another schema version, is refused untouched.
func (e *boltEngine) initSchema() error {
	return e.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("not a hearth local store (bbolt file without a %q bucket)", bucketMeta)
			}
			for _, name := range allBuckets {
				if _, err := tx.CreateBucket(name); err != nil {
					return fmt.Errorf("create bucket %q: %w", name, err)
				}
			}
			meta = tx.Bucket(bucketMeta)
			if err := meta.Put(metaFormatKey, []byte(fileFormat)); err != nil {
				return err
			}
			return meta.Put(metaSchemaKey, binary.BigEndian.AppendUint32(nil, schemaVersion))
		}
		if f := meta.Get(metaFormatKey); string(f) != fileFormat {
			return fmt.Errorf("not a hearth local store (format %q)", f)
		}
		v := meta.Get(metaSchemaKey)
		if len(v) != 4 {
			return fmt.Errorf("%w: schema version of %d bytes", errCorrupt, len(v))
		}
		if got := binary.BigEndian.Uint32(v); got != schemaVersion {
			return fmt.Errorf("schema version %d, this build reads %d: %w", got, schemaVersion, errSchemaVersion)
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) != nil {
				continue
			}
			if !slices.ContainsFunc(addedBuckets, func(b []byte) bool { return bytes.Equal(b, name) }) {
				return fmt.Errorf("%w: bucket %q is missing", errCorrupt, name)
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("create bucket %q: %w", name, err)
			}
		}
		return nil
	})
}

// errSchemaVersion is returned by Open for a file of another layout version.
var errSchemaVersion = errors.New("localstore: unsupported schema version")
