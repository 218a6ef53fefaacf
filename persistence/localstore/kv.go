package localstore

import "errors"

// kvTx is the storage edge the Store logic is written against: ordered byte
// keys in a fixed set of named buckets, read and written inside one
// transaction. Two engines implement it (bbolt for files, a copy-on-write
// B-tree in memory), so the ownership and fencing logic in store.go exists
// once.
//
// Slices returned by Get and passed to a Scan callback are owned by the
// engine: they are valid only until the transaction ends and must not be
// modified. Callers copy what they keep (bbolt hands out pointers into its
// memory map).
type kvTx interface {
	// Get returns the value stored under key, or nil if there is none.
	Get(bucket, key []byte) []byte
	// Put stores val under key. The engine may keep val until the
	// transaction ends; the caller must not modify it afterwards.
	Put(bucket, key, val []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(bucket, key []byte) error
	// Scan calls fn for every key that starts with prefix and is >= start,
	// in ascending byte order, until fn returns more=false or an error (which
	// Scan returns). start may be nil (scan the whole prefix). fn must not
	// write to the bucket being scanned; collect keys and write afterwards.
	Scan(bucket, prefix, start []byte, fn func(k, v []byte) (more bool, err error)) error
}

// kvEngine runs transactions. Update is atomic: if fn returns an error (or
// panics) nothing it wrote is visible, ever. Updates are serialised; Views see
// a consistent committed state.
type kvEngine interface {
	Update(fn func(kvTx) error) error
	View(fn func(kvTx) error) error
	Close() error
}

// errClosed is returned by every operation on a closed store.
var errClosed = errors.New("localstore: store is closed")

// errReadOnly is returned by writes inside a View.
var errReadOnly = errors.New("localstore: write in a read-only transaction")

// The buckets. Every engine creates all of them up front.
var (
	bucketMeta      = []byte("meta")      // "format", "schema" -> file identity and layout version
	bucketNodes     = []byte("nodes")     // node id -> nodeValue
	bucketProfiles  = []byte("profiles")  // ns \x00 id -> profileValue
	bucketSnapshots = []byte("snapshots") // ns \x00 id \x00 seq(8, BE) -> snapshotValue
	bucketRecords   = []byte("records")   // ns \x00 id \x00 record key -> recordValue
	bucketRecordIdx = []byte("recidx")    // ns \x00 id \x00 seq(8, BE) record key -> empty

	bucketUsers     = []byte("users")     // userID \x00 ns \x00 id -> empty
	bucketProfUsers = []byte("profusers") // ns \x00 id \x00 userID -> empty

	allBuckets = [][]byte{bucketMeta, bucketNodes, bucketProfiles, bucketSnapshots, bucketRecords, bucketRecordIdx,
		bucketUsers, bucketProfUsers}
	// addedBuckets joined the layout after files were written with it; an
	// existing file gets them, empty, when it is opened.
	addedBuckets = [][]byte{bucketUsers, bucketProfUsers}
)
