package document

// Reconcile fills in what doc lacks from template: every member of the
// template that doc does not have is added (as a Clone), recursively into
// objects that both have. It never overwrites a value doc has, even one of a
// different type than the template's, and never merges arrays (an existing
// array is kept as it is). This is how a profile picks up fields added to
// the namespace's default document after it was created.
//
// It returns the new document and whether any member was filled in. Like
// Apply it is copy-on-write: neither input is mutated, and the result shares
// untouched subtrees with doc (so treat documents as immutable). A nil doc
// is an empty object; a nil or non-object template, or a doc whose root is
// not an object, leaves doc as it is.
//
// The template is trusted configuration: validate it once (Decode or
// Validate) when it is loaded, not on every call.
func Reconcile(doc, template any) (any, bool) {
	tmpl, ok := template.(map[string]any)
	if !ok {
		return doc, false
	}
	if doc == nil {
		doc = map[string]any{}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return doc, false
	}
	out, changed := reconcileObject(obj, tmpl)
	if !changed {
		return doc, false
	}
	return out, true
}

// reconcileObject returns d with the template's missing members filled in,
// copying d only if something is added at or below it.
func reconcileObject(d, t map[string]any) (map[string]any, bool) {
	var out map[string]any
	write := func(k string, v any) {
		if out == nil {
			out = make(map[string]any, len(d)+1)
			for dk, dv := range d {
				out[dk] = dv
			}
		}
		out[k] = v
	}
	for k, tv := range t {
		dv, exists := d[k]
		if !exists {
			write(k, Clone(tv))
			continue
		}
		dObj, ok1 := dv.(map[string]any)
		tObj, ok2 := tv.(map[string]any)
		if !ok1 || !ok2 {
			continue
		}
		if sub, changed := reconcileObject(dObj, tObj); changed {
			write(k, sub)
		}
	}
	if out == nil {
		return d, false
	}
	return out, true
}
