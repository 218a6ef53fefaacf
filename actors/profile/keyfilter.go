package profile

import (
	"encoding/binary"
	"hash/fnv"
)

// keyFilterBits is the size of a profile's idempotency-key filter: 512
// bytes in every snapshot. Up to ~400 keys it answers "never seen" for a new
// key 99% of the time; past ~3000 it almost always says "maybe" and the
// profile falls back to a store read per new key, which is slower, never
// wrong.
const keyFilterBits = 4096

// keyFilterHashes is the number of bit positions per key.
const keyFilterHashes = 4

// keyFilter is a Bloom filter of every idempotency key ever recorded for a
// profile. It travels in the snapshot envelope, written in the same row as
// the records it summarizes, so a key whose record committed is always in
// the committed filter. A key it has never seen needs no store read before
// it is applied: the common case (a new purchase, a client's first attempt)
// costs no round trip. A "maybe" is settled by reading the store.
type keyFilter []byte

// newKeyFilter is an empty filter, for a profile with no records.
func newKeyFilter() keyFilter { return make(keyFilter, keyFilterBits/8) }

// saturatedKeyFilter answers "maybe" for everything: for a profile whose
// snapshot carries no filter, the store must be asked every time.
func saturatedKeyFilter() keyFilter {
	f := newKeyFilter()
	for i := range f {
		f[i] = 0xff
	}
	return f
}

// positions derives the key's bit positions by double hashing one FNV-1a
// 64-bit hash.
func positions(key string) [keyFilterHashes]uint32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], h.Sum64())
	h1, h2 := binary.LittleEndian.Uint32(b[:4]), binary.LittleEndian.Uint32(b[4:])|1
	var out [keyFilterHashes]uint32
	for i := range out {
		out[i] = (h1 + uint32(i)*h2) % keyFilterBits
	}
	return out
}

// add records a key.
func (f keyFilter) add(key string) {
	for _, p := range positions(key) {
		f[p/8] |= 1 << (p % 8)
	}
}

// mayContain is false only for a key never added.
func (f keyFilter) mayContain(key string) bool {
	for _, p := range positions(key) {
		if f[p/8]&(1<<(p%8)) == 0 {
			return false
		}
	}
	return true
}

// valid reports whether stored bytes are a filter this node can use.
func (f keyFilter) valid() bool { return len(f) == keyFilterBits/8 }
