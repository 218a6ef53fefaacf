// Package persistence defines what a Hearth node needs from storage and the
// rules every store implementation follows.
//
// The store is the single authority on who owns a profile. Routing in the
// cluster decides where a profile *should* live; the store decides who *may
// write* it. Every activation takes an ownership epoch with Acquire, and every
// later write (Save, Release, Delete) names that epoch. A write whose epoch is
// no longer current is refused (ErrFenced / SaveFenced) and changes nothing.
//
// Node leases are judged by the store's clock (the database's now() for the
// SQL store), never by comparing clocks across machines. A profile may be
// taken from its owner only when the owner released it or the owner node's
// lease has lapsed by that clock.
//
// Implementations: sqlstore (CockroachDB, tested on PostgreSQL), localstore
// (the embedded bbolt store and an in-memory store for tests). All of them
// pass the contract suite in persistence/storetest.
package persistence
