// Package activation is one loaded profile as a pure state machine, in the
// style of etcd's raft: the actor shell (actors/profile) feeds it events
// with Step (a request, a store answer, a timer, a passivation), and
// collects with Ready what it must do (replies, an acquire, a save, a store
// read, a release, events to publish, when to wake it next, whether to
// stop). The machine never blocks, reads no clock (time comes with every
// event) and performs no I/O, so a waiting activation can be drained,
// passivated or refused at any moment, and table tests drive it without an
// actor system.
//
// The decisions it delegates are pure too: documents and operations
// (actors/document), schema migrations (actors/migration) and sessions
// (actors/session). docs/ARCHITECTURE.md shows the message flows.
package activation
