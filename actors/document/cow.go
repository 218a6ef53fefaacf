package document

import (
	"maps"
	"reflect"
	"unsafe"
)

// cow tracks which containers one Apply call has allocated itself. Those it
// may mutate in place; every other container belongs to the caller's
// document (or to data shared with older versions of it) and is copied
// before its first write. Tracking ownership makes a batch of operations on
// the same object copy it once rather than once per operation, while the
// input document is never written.
//
// Identity is the address of the map or of the slice's backing array. The
// set holds unsafe.Pointers, so everything in it stays alive for the whole
// call and an address cannot be reused by an unrelated allocation.
//
// A typical update owns a handful of containers (the root, one or two
// parents), so they are kept in a small inline array searched linearly; a
// map takes over only for large batches.
type cow struct {
	few   [8]unsafe.Pointer
	n     int
	owned map[unsafe.Pointer]struct{}
}

func (c *cow) own(p unsafe.Pointer) {
	if p == nil || c.has(p) {
		return
	}
	if c.owned == nil && c.n < len(c.few) {
		c.few[c.n] = p
		c.n++
		return
	}
	if c.owned == nil {
		c.owned = make(map[unsafe.Pointer]struct{}, 2*len(c.few))
		for _, q := range c.few[:c.n] {
			c.owned[q] = struct{}{}
		}
	}
	c.owned[p] = struct{}{}
}

func (c *cow) has(p unsafe.Pointer) bool {
	if c.owned != nil {
		_, ok := c.owned[p]
		return ok
	}
	for _, q := range c.few[:c.n] {
		if q == p {
			return true
		}
	}
	return false
}

func mapID(m map[string]any) unsafe.Pointer { return reflect.ValueOf(m).UnsafePointer() }

// sliceID identifies a slice's backing array. A slice without capacity has
// no array of its own (it may point at a shared zero-size address), so it is
// never owned; that costs nothing, since writing to it means allocating.
func sliceID(s []any) unsafe.Pointer {
	if cap(s) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(s))
}

func (c *cow) ownsMap(m map[string]any) bool {
	return m != nil && c.has(mapID(m))
}

func (c *cow) ownsSlice(s []any) bool {
	id := sliceID(s)
	return id != nil && c.has(id)
}

// adopt records a container this call created (a cloned operation value) so
// later operations in the same call may write into it directly.
func (c *cow) adopt(v any) {
	switch x := v.(type) {
	case map[string]any:
		if x != nil {
			c.own(mapID(x))
		}
	case []any:
		c.own(sliceID(x))
	}
}

func (c *cow) newMap(size int) map[string]any {
	m := make(map[string]any, size)
	c.own(mapID(m))
	return m
}

// writableMap returns m itself if this call owns it, else an owned copy.
// maps.Clone copies the hash table wholesale, several times faster than
// re-inserting every member, which matters because the root object is
// copied on every update.
func (c *cow) writableMap(m map[string]any) map[string]any {
	if c.ownsMap(m) {
		return m
	}
	if m == nil {
		return c.newMap(1)
	}
	w := maps.Clone(m)
	c.own(mapID(w))
	return w
}

// writableSlice returns s itself if owned, else an owned copy.
func (c *cow) writableSlice(s []any) []any {
	if c.ownsSlice(s) {
		return s
	}
	w := make([]any, len(s))
	copy(w, s)
	c.own(sliceID(w))
	return w
}

// appendElem returns s with v appended, in place when s is owned and has
// room, else in a new owned array.
func (c *cow) appendElem(s []any, v any) []any {
	if c.ownsSlice(s) {
		w := append(s, v)
		c.own(sliceID(w)) // a no-op unless append had to grow the array
		return w
	}
	w := make([]any, len(s)+1)
	copy(w, s)
	w[len(s)] = v
	c.own(sliceID(w))
	return w
}

// deleteElem returns s without element i, shifting the later ones down.
func (c *cow) deleteElem(s []any, i int) []any {
	if c.ownsSlice(s) {
		copy(s[i:], s[i+1:])
		s[len(s)-1] = nil // drop the reference so the GC can free it
		return s[:len(s)-1]
	}
	w := make([]any, len(s)-1)
	copy(w, s[:i])
	copy(w[i:], s[i+1:])
	c.own(sliceID(w))
	return w
}
