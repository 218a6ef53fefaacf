package activation

import (
	"encoding/binary"
	"encoding/json"
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

// An empty filter is nil: a profile that never recorded a key carries no
// bitmap in memory (most profiles have none), and the first key allocates it.

// newKeyFilter is a filter with room for keys.
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

// add records a key, allocating the bitmap on the first one.
func (f *keyFilter) add(key string) {
	if *f == nil {
		*f = newKeyFilter()
	}
	for _, p := range positions(key) {
		(*f)[p/8] |= 1 << (p % 8)
	}
}

// mayContain is false only for a key never added.
func (f keyFilter) mayContain(key string) bool {
	if f == nil {
		return false
	}
	for _, p := range positions(key) {
		if f[p/8]&(1<<(p%8)) == 0 {
			return false
		}
	}
	return true
}

// Stored forms of a filter: a mostly empty filter (a profile with few keys)
// is written as the list of its set bits, two bytes each, instead of the
// 512-byte bitmap, so a small profile's snapshots stay small.
const (
	filterBitmap byte = 0
	filterSparse byte = 1
)

// MarshalJSON writes the smaller of the two forms, base64-encoded (the
// empty filter is the sparse form with no bits).
func (f keyFilter) MarshalJSON() ([]byte, error) {
	var set []uint16
	for i, b := range f {
		for bit := range 8 {
			if b&(1<<bit) != 0 {
				set = append(set, uint16(i*8+bit))
			}
		}
	}
	var out []byte
	if len(f) == 0 || 1+2*len(set) < 1+len(f) {
		out = make([]byte, 1, 1+2*len(set))
		out[0] = filterSparse
		for _, p := range set {
			out = binary.LittleEndian.AppendUint16(out, p)
		}
	} else {
		out = append([]byte{filterBitmap}, f...)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads either form (and a bare bitmap). A form it cannot
// read becomes a saturated filter ("any key may exist"): slower, never
// wrong. A sparse form with no bits is the empty (nil) filter.
func (f *keyFilter) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch {
	case len(raw) == keyFilterBits/8: // a bare bitmap
		*f = raw
	case len(raw) == 1+keyFilterBits/8 && raw[0] == filterBitmap:
		*f = raw[1:]
	case len(raw) >= 1 && raw[0] == filterSparse && len(raw)%2 == 1:
		nf := newKeyFilter()
		for i := 1; i < len(raw); i += 2 {
			p := binary.LittleEndian.Uint16(raw[i:])
			if p >= keyFilterBits {
				*f = saturatedKeyFilter()
				return nil
			}
			nf[p/8] |= 1 << (p % 8)
		}
		if len(raw) == 1 {
			nf = nil // no bits set: the empty filter
		}
		*f = nf
	default:
		*f = saturatedKeyFilter()
	}
	return nil
}
