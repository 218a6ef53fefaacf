// Package migration upgrades stored profiles to the current schema when they
// are loaded.
//
// Every profile stores the schema version it was written with. A namespace
// configures an ordered list of steps, each with a version; on load, Migrate
// runs every step newer than the profile's version, in order, and the
// profile is saved with the plan's current version. A profile with a version
// newer than the plan knows (written by a newer node during a rolling
// upgrade) is refused with ErrSchemaTooNew rather than downgraded.
//
// A step's declarative actions are written in the node's configuration file,
// for example
//
//	[
//	  {"version": 1, "actions": [
//	    {"kind": "rename", "path": "/gold", "to": "coins"},
//	    {"kind": "set_default", "path": "/gems", "value": 0}
//	  ]},
//	  {"version": 2, "actions": [
//	    {"kind": "move", "path": "/sound", "to": "/settings/sound"},
//	    {"kind": "delete", "path": "/legacy_flags"}
//	  ]}
//	]
//
// Paths are RFC 6901 JSON Pointers, as in package document.
//
//   - rename moves the member at path to the sibling member named to (a
//     single member name, not a pointer), replacing a sibling of that name.
//     A missing member is left alone; a parent that is not an object is an
//     error (document.ErrTypeMismatch).
//   - move moves the value at path to the pointer to, creating missing
//     parent objects and replacing what is there, with the rules of
//     document's set. The destination is resolved after the source has been
//     removed (as in RFC 6902). A missing source is left alone.
//   - delete removes the member or element at path; a missing one is left
//     alone.
//   - set_default sets value at path if nothing is there (document's
//     set_if_absent); an existing value, even null, is kept.
//
// Steps may also carry a Go function (Step.Func) for migrations that actions
// cannot express, for users who build their own node binary. It runs after
// the step's actions, on a private copy of the document; an error, a panic
// or a result that is not a valid document object fails the migration.
//
// Migrations are all-or-nothing per profile: a failure leaves the stored
// profile as it was and reports which step and action failed (*StepError).
package migration
