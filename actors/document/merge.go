package document

// Merge follows RFC 7386 (JSON Merge Patch): for each member of the patch, a
// null deletes the target's member, an object is merged into the target's
// member (which is replaced by an empty object first if it is not an
// object), and any other value replaces the member. Arrays are values, not
// merged element-wise.

// mergeObject merges patch into target (nil meaning absent) and returns the
// result, writing only into containers this call owns. The patch is a
// private copy (Apply cloned it), so its leaves are stored without copying.
func (a *applier) mergeObject(target, patch map[string]any) map[string]any {
	out := target
	if out == nil {
		out = a.newMap(len(patch))
	}
	for k, pv := range patch {
		switch pv := pv.(type) {
		case nil:
			if _, ok := out[k]; ok {
				out = a.writableMap(out)
				delete(out, k)
			}
		case map[string]any:
			cur, isObj := out[k].(map[string]any)
			if isObj && !a.mergeChanges(cur, pv) {
				continue
			}
			if !isObj {
				cur = nil
			}
			nm := a.mergeObject(cur, pv)
			out = a.writableMap(out)
			out[k] = nm
		default:
			out = a.writableMap(out)
			out[k] = pv
		}
	}
	return out
}

// mergeChanges reports whether merging patch into the object target would
// change it, so that a patch that is already satisfied copies nothing.
// Replacing a value with an equal one still counts as a change, except that
// deleting an absent member or merging an empty object does not.
func (a *applier) mergeChanges(target, patch map[string]any) bool {
	for k, pv := range patch {
		cur, exists := target[k]
		switch pv := pv.(type) {
		case nil:
			if exists {
				return true
			}
		case map[string]any:
			obj, isObj := cur.(map[string]any)
			if !isObj || a.mergeChanges(obj, pv) {
				return true
			}
		default:
			return true
		}
	}
	return false
}
