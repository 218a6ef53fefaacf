package profile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/actors/groupcommit"
	"github.com/hearth-profiles/hearth/actors/migration"
	"github.com/hearth-profiles/hearth/persistence"
)

// Config is everything a profile activation needs. One Config is shared by
// all activations on a node; nothing in it changes after NewHost.
type Config struct {
	// NodeID is this node incarnation's id, registered with the store.
	NodeID string
	Store  persistence.Store
	// Committer group-commits every activation's saves. Required.
	Committer *groupcommit.Committer
	// Namespaces gives each namespace its template and migrations.
	Namespaces map[string]Namespace
	// AllowUnknownNamespaces serves namespaces missing from Namespaces with
	// an empty template and no migrations. When false, requests for them
	// are refused with INVALID_ARGUMENT.
	AllowUnknownNamespaces bool

	// LeaseValid reports whether this node's lease is still valid by its
	// own monotonic clock, less a safety margin. Past it the node
	// acknowledges nothing: every reply and watch event is refused with
	// UNAVAILABLE. nil means always valid (a node without a lease).
	LeaseValid func() bool

	Clock   clockwork.Clock
	Logger  *slog.Logger
	Metrics *Metrics
	// NewToken draws a session token. Default: 16 random bytes, hex.
	NewToken func() string

	Timing Timing
	Limits Limits
}

// Namespace is the per-namespace document policy.
type Namespace struct {
	// Template is reconciled into every loaded document: missing members
	// are filled in, existing ones never overwritten. nil means {}.
	Template any
	// Migrations bring stored documents to the current schema version.
	Migrations migration.Plan
}

// Timing holds the activation's intervals. Zero values take the defaults.
type Timing struct {
	// AutosaveInterval saves a dirty profile this often (default 30 s),
	// spread by AutosaveJitter (default 0.1: plus or minus 10%) so that
	// profiles loaded together do not save together.
	AutosaveInterval time.Duration
	AutosaveJitter   float64
	// IdleTimeout passivates a profile without requests (default 5 min).
	IdleTimeout time.Duration
	// ReleaseLinger keeps a released profile loaded this long, so a quick
	// rejoin needs no reload (default 10 s).
	ReleaseLinger time.Duration
	// SessionTTL is how long a session lasts without a request or
	// heartbeat (default 60 s).
	SessionTTL time.Duration
	// MaxAcquireWait caps (and is the default of) an Acquire's wait mode
	// (default 30 s).
	MaxAcquireWait time.Duration
	// ActivationWait bounds how long an activation waits for the previous
	// owner node to release the profile or for its lease to lapse
	// (default 60 s; it should exceed the node lease TTL).
	ActivationWait time.Duration
	// StoreTimeout bounds every direct store call (default 10 s).
	StoreTimeout time.Duration
	// SaveRetry is the first delay before retrying a failed save; it
	// doubles up to SaveRetryMax (defaults 500 ms and 30 s).
	SaveRetry    time.Duration
	SaveRetryMax time.Duration
	// PassivateTimeout bounds the final save of a passivation; after it the
	// activation stops without releasing, and its unsaved memory changes
	// are lost as in a crash (default 60 s).
	PassivateTimeout time.Duration
}

// Limits bounds requests. Zero values take the defaults.
type Limits struct {
	// MaxDocumentBytes caps the encoded document (default: the store's
	// limit less room for the envelope).
	MaxDocumentBytes int
	// MaxOperations caps the operations in one update (default 100).
	MaxOperations int
	// MaxPathDepth caps the tokens in a path (default 32).
	MaxPathDepth int
}

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("profile: invalid config")

// envelopeReserve is room kept inside the store's document limit for the
// envelope around the document (version, session).
const envelopeReserve = 1024

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Store == nil:
		return c, fmt.Errorf("%w: Store is required", ErrConfig)
	case c.Committer == nil:
		return c, fmt.Errorf("%w: Committer is required", ErrConfig)
	case c.NodeID == "":
		return c, fmt.Errorf("%w: NodeID is required", ErrConfig)
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
	if c.NewToken == nil {
		c.NewToken = randomToken
	}
	t := &c.Timing
	setDefault(&t.AutosaveInterval, 30*time.Second)
	if t.AutosaveJitter <= 0 || t.AutosaveJitter >= 1 {
		t.AutosaveJitter = 0.1
	}
	setDefault(&t.IdleTimeout, 5*time.Minute)
	setDefault(&t.ReleaseLinger, 10*time.Second)
	setDefault(&t.SessionTTL, 60*time.Second)
	setDefault(&t.MaxAcquireWait, 30*time.Second)
	setDefault(&t.ActivationWait, 60*time.Second)
	setDefault(&t.StoreTimeout, 10*time.Second)
	setDefault(&t.SaveRetry, 500*time.Millisecond)
	setDefault(&t.SaveRetryMax, 30*time.Second)
	setDefault(&t.PassivateTimeout, 60*time.Second)

	l := &c.Limits
	storeMax := c.Store.Limits().WithDefaults().MaxDocumentBytes - envelopeReserve
	if l.MaxDocumentBytes <= 0 || l.MaxDocumentBytes > storeMax {
		l.MaxDocumentBytes = storeMax
	}
	if l.MaxOperations <= 0 {
		l.MaxOperations = document.DefaultMaxOps
	}
	if l.MaxPathDepth <= 0 {
		l.MaxPathDepth = document.DefaultMaxPathDepth
	}
	return c, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

func (l Limits) document() document.Limits {
	return document.Limits{MaxOps: l.MaxOperations, MaxPathDepth: l.MaxPathDepth}
}

// namespace finds a namespace's policy.
func (c *Config) namespace(name string) (Namespace, bool) {
	ns, ok := c.Namespaces[name]
	if !ok && c.AllowUnknownNamespaces {
		return Namespace{}, true
	}
	return ns, ok
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
