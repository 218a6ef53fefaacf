package profile

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearth-profiles/hearth/actors/activation"
	"github.com/hearth-profiles/hearth/actors/groupcommit"
	"github.com/hearth-profiles/hearth/persistence"
)

// The activation's policy types, re-exported so a node is configured
// through this package alone.
type (
	Timing    = activation.Timing
	Limits    = activation.Limits
	Namespace = activation.Namespace
	Metrics   = activation.Metrics
)

// NewMetrics creates the activations' metrics and registers them with reg
// (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics { return activation.NewMetrics(reg) }

// Config is everything a Host needs. One Config is shared by all
// activations of a node; nothing in it changes after NewHost.
type Config struct {
	// NodeID is this node incarnation's id, registered with the store.
	NodeID string
	Store  persistence.Store
	// Committer group-commits every activation's saves. Required.
	Committer *groupcommit.Committer
	// Namespaces gives each namespace its template, migrations and history
	// policy.
	Namespaces map[string]Namespace
	// AllowUnknownNamespaces serves namespaces missing from Namespaces with
	// an empty template and no migrations. When false, requests for them
	// are refused with INVALID_ARGUMENT.
	AllowUnknownNamespaces bool

	Clock   clockwork.Clock
	Logger  *slog.Logger
	Metrics *Metrics
	// NewToken draws a session token. Default: 16 random bytes, hex.
	NewToken func() string

	Timing Timing
	Limits Limits

	// StoreTimeout bounds every store call an activation makes outside the
	// committer (default 10 s).
	StoreTimeout time.Duration
	// ActivationBatch caps the profiles acquired in one store transaction
	// (default 100); ActivationWriters is how many such transactions may
	// be in flight at once (default 1).
	ActivationBatch   int
	ActivationWriters int
	// EventBuffer is how many events a polled profile keeps for long polls
	// (default 256); a poller further behind resynchronises.
	EventBuffer int
	// MaxPollWait caps, and is the default of, a PollEvents wait
	// (default 25 s).
	MaxPollWait time.Duration

	// LeaseValid reports whether the node's lease is still valid by its
	// own monotonic clock (nil: always). Every answer leaving the Host is
	// checked against it: a node whose lease may have lapsed acknowledges
	// nothing. // lease gate (cluster)
	LeaseValid func() bool
	// OnReleased, if set, is called after an activation released its
	// profile with everything saved (a passivation), so the node can tell
	// the profile's next owner to take it now instead of at its next poll.
	OnReleased func(key persistence.ProfileKey)
	// Owns, if set, reports whether this node owns key by its routing
	// view. A request that an activation turned away (it was passivating:
	// a handoff) is then started again here only if the node still owns
	// the profile; otherwise Request answers a *MovedError and the router
	// sends it to the new owner. Without it the request would start a new
	// activation here, which the new owner would wait for until the next
	// handoff pass.
	Owns func(key persistence.ProfileKey) bool
}

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("profile: invalid config")

func (c Config) withDefaults() (Config, activation.Config, error) {
	switch {
	case c.Store == nil:
		return c, activation.Config{}, fmt.Errorf("%w: Store is required", ErrConfig)
	case c.Committer == nil:
		return c, activation.Config{}, fmt.Errorf("%w: Committer is required", ErrConfig)
	}
	if _, ok := c.Store.(acquirer); !ok {
		return c, activation.Config{}, fmt.Errorf("%w: the store cannot acquire in batches", ErrConfig)
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 10 * time.Second
	}
	if c.ActivationBatch <= 0 {
		c.ActivationBatch = 100
	}
	if max := c.Store.Limits().WithDefaults().MaxBatchRows; c.ActivationBatch > max {
		c.ActivationBatch = max
	}
	if c.ActivationWriters <= 0 {
		// One: on PostgreSQL, concurrent batches that insert new profiles
		// conflict through predicate locks on shared index pages
		// (measured: 4 writers loaded 1.7k profiles/s with retries, 1
		// writer 2.1k/s without); CockroachDB locks rows, and a cluster
		// of nodes has one writer each anyway.
		c.ActivationWriters = 1
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 256
	}
	if c.MaxPollWait <= 0 {
		c.MaxPollWait = 25 * time.Second
	}
	ac, err := activation.Config{
		NodeID:      c.NodeID,
		StoreLimits: c.Store.Limits(),
		Logger:      c.Logger,
		Metrics:     c.Metrics,
		NewToken:    c.NewToken,
		Timing:      c.Timing,
		Limits:      c.Limits,
	}.WithDefaults()
	if err != nil {
		return c, ac, err
	}
	c.Timing, c.Limits, c.NewToken = ac.Timing, ac.Limits, ac.NewToken
	return c, ac, nil
}
