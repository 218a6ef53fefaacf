// Package document holds player profiles as JSON documents in memory and
// applies update operations to them.
//
// # Values
//
// A document value is one of: nil (JSON null), bool, json.Number, string,
// []any and map[string]any. Numbers are always json.Number, the literal text,
// never float64, so a 64-bit id or a large balance reads back exactly as it
// was written. Decode produces such values, Encode writes them (compact, with
// object members sorted by key, so equal documents encode to equal bytes),
// Validate checks values built in Go, Clone copies them deeply and Equal
// compares them (numbers by exact value: 1, 1.0 and 1e0 are equal). A
// profile's root is always an object. Documents nest at most MaxNesting
// levels.
//
// Documents are immutable values. Apply and Reconcile never modify their
// input; they return a new document that shares the unchanged parts with the
// old one. Anything that wants to modify a document in place must Clone it
// first.
//
// # Paths
//
// Paths are RFC 6901 JSON Pointers. "" is the whole document, "/coins" the
// member "coins" of the root, "/inventory/0" the first element of the array
// "inventory". In a member name, "~1" stands for '/' and "~0" for '~', so the
// member "a/b" is "/a~1b". Array indices are written in plain decimal ("0",
// "12"; never "01", "+1" or "-1"). The token "-" names the position after the
// last element of an array: setting or appending there adds an element.
//
// # Operations
//
// Apply applies a list of operations in order, all or nothing: if any
// operation fails, none takes effect and the error (an *OpError) says which
// one failed and why. In the examples below the document starts as
//
//	{"coins": 10, "name": "ana", "inventory": ["sword", "shield"], "stats": {"hp": 5}}
//
// set writes Value at Path, replacing what is there. Missing objects on the
// way are created ("mkdir -p"); a missing array element on the way is an
// error (ErrPathNotFound), and so is stepping into a number, string, boolean
// or null (ErrTypeMismatch). In an array, the last token may be an existing
// index (the element is replaced) or "-" (the value is appended). Path ""
// replaces the whole document, whose root must stay an object.
//
//	set /name "bea"              -> "name": "bea"
//	set /settings/sound/volume 3 -> "settings": {"sound": {"volume": 3}}
//	set /inventory/1 "bow"       -> "inventory": ["sword", "bow"]
//	set /inventory/- "bow"       -> "inventory": ["sword", "shield", "bow"]
//	set /inventory/5 "bow"       -> ErrPathNotFound (index out of range)
//	set /coins/gold 1            -> ErrTypeMismatch (coins is a number)
//
// delete removes the member or element at Path. Deleting something that is
// not there (or whose parent is not there) does nothing, so a delete can be
// retried safely. Deleting an array element moves the later ones down.
// Deleting "" is ErrInvalidPath.
//
//	delete /stats/hp    -> "stats": {}
//	delete /inventory/0 -> "inventory": ["shield"]
//	delete /missing/x   -> no change
//
// increment adds Value, which must be a number (else ErrInvalidValue), to
// the number at Path. A missing target counts as 0 and is created (with its
// parents, as for set); a target that is not a number is ErrTypeMismatch.
// When both numbers are integers (written without '.', 'e' or 'E') that fit
// in 64 bits, the sum is exact and a result beyond int64 is ErrOverflow.
// Otherwise both are added as float64 and a result beyond the float64 range
// is ErrOverflow. Use a negative Value to subtract.
//
//	increment /coins 5         -> "coins": 15
//	increment /coins -15       -> "coins": -5
//	increment /stats/xp 1.5    -> "stats": {"hp": 5, "xp": 1.5}
//	increment /name 1          -> ErrTypeMismatch
//	increment /coins 9223372036854775807 -> ErrOverflow
//
// append adds Value as one element at the end of the array at Path (an array
// value is added as a single nested element). A missing target is created as
// [Value]; a target that is not an array is ErrTypeMismatch.
//
//	append /inventory "bow" -> "inventory": ["sword", "shield", "bow"]
//	append /badges "first"  -> "badges": ["first"]
//
// remove deletes the first element of the array at Path that equals Value.
// If no element equals it, or the array does not exist, it is
// ErrPathNotFound, so "consume one sword" fails when there is none; a target
// that is not an array is ErrTypeMismatch.
//
//	remove /inventory "sword" -> "inventory": ["shield"]
//	remove /inventory "bow"   -> ErrPathNotFound
//
// merge applies Value, which must be an object (else ErrInvalidValue), to the
// object at Path as an RFC 7386 JSON Merge Patch: a null member deletes, an
// object member merges recursively, any other member replaces. A missing
// target is created as {}; a target that is not an object is
// ErrTypeMismatch.
//
//	merge /stats {"hp": 7, "mp": 2}     -> "stats": {"hp": 7, "mp": 2}
//	merge "" {"name": null, "level": 2} -> "name" deleted, "level": 2 added
//
// set_if_absent is set, except that when Path already exists (even holding
// null) it does nothing and is not an error. Use it to initialise a field.
//
//	set_if_absent /coins 100  -> no change
//	set_if_absent /gems 100   -> "gems": 100
//
// # Limits
//
// An Apply call takes at most Limits.MaxOps operations (default 100; more is
// ErrLimit for the whole list, OpError.Index -1), each path at most
// Limits.MaxPathDepth tokens (default 32; ErrLimit), and no operation may
// make the document nest deeper than MaxNesting (ErrLimit). An unknown
// operation kind is ErrInvalidValue.
//
// # Templates
//
// Reconcile fills in members a document lacks from a template (the
// namespace's default document) without ever overwriting anything, so
// profiles created before a field was added get it on their next load.
package document
