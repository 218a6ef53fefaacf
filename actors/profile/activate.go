package profile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/persistence"
)

// activationPoll is how often an activation asks again while another node
// holds the profile. The previous owner's release is not announced, so a
// planned handoff costs at most this much extra.
const activationPoll = 100 * time.Millisecond

// start runs in Started: take ownership (waiting for the previous owner if
// need be), load, migrate, reconcile. Requests queue in the mailbox until it
// ends, so nothing is served before the profile is owned and loaded.
func (a *activation) start(ctx actor.Context) {
	a.cfg.Metrics.Loaded.Inc()
	a.lastActivity = a.cfg.Clock.Now()
	acq, err := a.acquireOwnership()
	if err == nil {
		err = a.load(acq)
		if err != nil {
			// Give the profile back so a node that can read it (a newer
			// schema) need not wait for this node's lease.
			sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timing.StoreTimeout)
			if rerr := a.cfg.Store.Release(sctx, a.cfg.NodeID, a.key, acq.Epoch); rerr != nil {
				a.log.Warn("could not give back a profile that failed to load; it frees when this node's lease lapses", "err", rerr)
			}
			cancel()
		}
	}
	if err != nil {
		ce := classify(err)
		a.cfg.Metrics.Activations.WithLabelValues(activationResult(ce.Code)).Inc()
		a.log.Warn("activation failed", "err", err)
		a.phase = phaseFailed
		a.failure = ce
		a.life.stopping()
		ctx.Send(ctx.Self(), stopNow{})
		return
	}
	a.cfg.Metrics.Activations.WithLabelValues("ok").Inc()
	a.log.Debug("activated", "epoch", a.epoch, "previous_owner", acq.PreviousOwner, "created", acq.Created,
		"seq", a.savedSeq, "version", a.version)
	a.phase = phaseActive
	a.armAutosave()
	a.arm(timerIdle, a.cfg.Timing.IdleTimeout)
	if a.sess.Holder != "" {
		a.armSessionTimer()
	}
}

func activationResult(code interface{ String() string }) string {
	switch code {
	case codeUnavailable:
		return "unavailable"
	case codeSchemaTooNew:
		return "schema_too_new"
	case codeMigrationFailed:
		return "migration_failed"
	default:
		return "failed"
	}
}

// acquireOwnership takes the profile's ownership epoch from the store. While
// another node holds it with a live lease (judged by the store's clock), it
// waits and asks again, up to ActivationWait: a new owner never reads a
// profile its previous owner may still write.
func (a *activation) acquireOwnership() (persistence.Acquired, error) {
	start := a.cfg.Clock.Now()
	deadline := start.Add(a.cfg.Timing.ActivationWait)
	var last error
	waited := false
	defer func() {
		if waited {
			a.cfg.Metrics.HandoffWait.Observe(a.cfg.Clock.Since(start).Seconds())
		}
	}()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timing.StoreTimeout)
		acq, err := a.cfg.Store.Acquire(ctx, a.cfg.NodeID, a.key)
		cancel()
		if err == nil {
			a.epoch = acq.Epoch
			return acq, nil
		}
		var held *persistence.HeldError
		wait := activationPoll
		switch {
		case errors.As(err, &held):
			waited = true
			wait = min(max(held.Remaining(), time.Millisecond), activationPoll)
		case errors.Is(err, persistence.ErrLeaseExpired):
			return persistence.Acquired{}, errorf(codeUnavailable, "node %s lost its lease and cannot take profiles; retry on another node", a.cfg.NodeID)
		case errors.Is(err, persistence.ErrInvalid):
			return persistence.Acquired{}, err
		}
		last = err
		now := a.cfg.Clock.Now()
		if now.Add(wait).After(deadline) {
			e := errorf(codeUnavailable, "could not take profile %s within %s: %v", a.key, a.cfg.Timing.ActivationWait, last)
			if held != nil {
				e.RetryAfter = held.Remaining()
			}
			return persistence.Acquired{}, e
		}
		<-a.cfg.Clock.After(wait)
	}
}

// load turns the acquired snapshot into the in-memory profile: unwrap,
// decode, migrate to the namespace's schema, reconcile with its template.
// A migrated or reconciled document counts as a change, saved by the next
// save like any other.
func (a *activation) load(acq persistence.Acquired) error {
	var (
		doc    any
		schema = a.ns.Migrations.Current() // a new profile starts at the current schema
	)
	// A profile never saved has no records (a re-created one had its
	// records deleted with it), so every key is new.
	a.keys = newKeyFilter()
	if snap := acq.Snapshot; snap != nil {
		env, err := decodeEnvelope(snap.Document)
		if err != nil {
			return errorf(codeUnavailable, "profile %s seq %d cannot be read: %v", a.key, snap.Seq, err)
		}
		if doc, err = document.Decode(env.Doc); err != nil {
			return errorf(codeUnavailable, "profile %s seq %d holds a bad document: %v", a.key, snap.Seq, err)
		}
		schema = snap.SchemaVersion
		a.version, a.savedVersion, a.savedSeq = env.Version, env.Version, snap.Seq
		a.lastSave = snap.SavedAt
		if env.Session != nil {
			a.sess = env.Session.Rebase(a.cfg.Clock.Now(), a.cfg.Timing.SessionTTL)
		}
		a.keys = env.Keys
		if !a.keys.valid() {
			// Written without a filter: any key may have a record.
			a.keys = saturatedKeyFilter()
		}
	} else if acq.Created {
		a.savedSeq = 0
	}
	migrated, newSchema, err := a.ns.Migrations.Migrate(doc, schema)
	if err != nil {
		return fmt.Errorf("profile %s: %w", a.key, err)
	}
	reconciled, changed := document.Reconcile(migrated, a.ns.Template)
	if reconciled == nil {
		reconciled = map[string]any{}
	}
	encoded, err := document.Encode(reconciled)
	if err != nil {
		return errorf(codeUnavailable, "profile %s: %v", a.key, err)
	}
	a.doc, a.docBytes, a.schema = reconciled, encoded, newSchema
	a.sizeBound = int64(len(encoded))
	if changed || newSchema != schema {
		a.version++
	}
	return nil
}

// encoded returns the document's JSON, encoding it if it changed.
func (a *activation) encoded() ([]byte, error) {
	if a.docBytes == nil {
		b, err := document.Encode(a.doc)
		if err != nil {
			return nil, err
		}
		a.docBytes = b
		a.sizeBound = int64(len(b))
	}
	return a.docBytes, nil
}
