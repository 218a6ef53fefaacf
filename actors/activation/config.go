package activation

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hearth-profiles/hearth/actors/document"
	"github.com/hearth-profiles/hearth/actors/migration"
	"github.com/hearth-profiles/hearth/persistence"
)

// Config is what every activation of a node shares. Nothing in it changes
// after WithDefaults; the machine never reads a clock (time comes with each
// event) and performs no I/O.
type Config struct {
	// NodeID is the node incarnation's id, for messages and Status.
	NodeID string
	// StoreLimits are the limits of the store the node saves to.
	StoreLimits persistence.Limits
	Logger      *slog.Logger
	Metrics     *Metrics
	// NewToken draws a session token. Default: 16 random bytes, hex.
	NewToken func() string
	Timing   Timing
	Limits   Limits
}

// Namespace is the per-namespace document policy.
type Namespace struct {
	// Template is reconciled into every loaded document: missing members
	// are filled in, existing ones never overwritten. nil means {}.
	Template any
	// Migrations bring stored documents to the current schema version.
	Migrations migration.Plan
	// History says which snapshots each save keeps (zero: the defaults,
	// DefaultHistory).
	History persistence.Retention
}

// DefaultHistory keeps at most 24 snapshots, at most one per 15 minutes, so a
// busy profile's history spans about six hours (a profile saved rarely keeps
// its last 24 saves, however old).
var DefaultHistory = persistence.Retention{Keep: 24, Interval: 15 * time.Minute}

// Timing holds the activation's intervals. Zero values take the defaults.
type Timing struct {
	// AutosaveInterval saves a dirty profile this long after it became
	// dirty (default 30 s), spread by AutosaveJitter (default 0.1: plus or
	// minus 10%) so that profiles changed together do not save together.
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
	// HandoffPoll is how often a waiting activation asks the store again
	// when no release notification came (default 500 ms). A planned
	// handoff is announced by the previous owner, so this is the fallback.
	HandoffPoll time.Duration
	// SaveRetry is the first delay before retrying a failed save; it
	// doubles up to SaveRetryMax (defaults 500 ms and 30 s).
	SaveRetry    time.Duration
	SaveRetryMax time.Duration
	// PassivateTimeout bounds the final save of a passivation; after it the
	// activation stops without releasing, and its unsaved memory changes
	// are lost as in a crash (default 60 s).
	PassivateTimeout time.Duration
	// CompactAfter drops the decoded form of a document that has been
	// saved and untouched this long, keeping only its JSON (default 30 s):
	// an idle profile then costs little more than its encoded size.
	CompactAfter time.Duration
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
var ErrConfig = errors.New("activation: invalid config")

// EnvelopeReserve is room kept inside the store's document limit for the
// envelope around the document (version, session, key filter).
const EnvelopeReserve = 1024

// WithDefaults fills in every zero value.
func (c Config) WithDefaults() (Config, error) {
	if c.NodeID == "" {
		return c, fmt.Errorf("%w: NodeID is required", ErrConfig)
	}
	c.StoreLimits = c.StoreLimits.WithDefaults()
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
	setDefault(&t.HandoffPoll, 500*time.Millisecond)
	setDefault(&t.SaveRetry, 500*time.Millisecond)
	setDefault(&t.SaveRetryMax, 30*time.Second)
	setDefault(&t.PassivateTimeout, 60*time.Second)
	setDefault(&t.CompactAfter, 30*time.Second)

	l := &c.Limits
	storeMax := c.StoreLimits.MaxDocumentBytes - EnvelopeReserve
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

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
