package persistence

import (
	"context"
	"fmt"
	"time"
)

// The store APIs of the admin tooling (GDPR erasure, export, dry runs,
// cluster status, housekeeping). They are separate small interfaces, not
// part of Store: the actors never need them, and a tool declares only the
// ones it uses. sqlstore and localstore implement all of them
// (AdminStore), and persistence/storetest checks them.

// UserIndex finds profiles by the user ids they carry (SaveRow.UserIDs), as
// for a GDPR erasure request naming a user.
type UserIndex interface {
	// ProfilesByUser lists the live profiles whose newest save named userID,
	// in every namespace, ordered by namespace then id. None is an empty
	// slice, not an error.
	ProfilesByUser(ctx context.Context, userID string) ([]ProfileKey, error)
}

// ProfileLister reads profiles in bulk, for export and dry runs.
type ProfileLister interface {
	// ListProfiles pages through the live (not erased) profiles of a
	// namespace in id order, starting after the id after ("" for the
	// first page), each with its newest snapshot. limit 0 means
	// DefaultListPage; at most MaxListPage.
	ListProfiles(ctx context.Context, namespace, after string, limit int) ([]ListedProfile, error)
	// Export calls fn for every live profile of a namespace in id order,
	// all read from one consistent state of the store: profiles saved,
	// created or erased while it runs are either all seen as they were
	// when it started or not at all. An error from fn stops the export and
	// is returned.
	Export(ctx context.Context, namespace string, fn func(ListedProfile) error) error
}

// NodeLister reports the registered node incarnations.
type NodeLister interface {
	// ListNodes lists every node incarnation the store knows, live or not,
	// ordered by id.
	ListNodes(ctx context.Context) ([]NodeStatus, error)
}

// TombstonePruner removes what the store keeps only so that ids and epochs
// are never reused: released or lapsed node incarnations and erased
// profiles' tombstones.
type TombstonePruner interface {
	// PruneTombstones deletes node incarnations whose lease ended (by
	// release or lapse) more than olderThan ago and that no profile names
	// as owner, and tombstones of profiles erased more than olderThan ago.
	// olderThan below MinPruneAge is refused with ErrInvalid.
	PruneTombstones(ctx context.Context, olderThan time.Duration) (Pruned, error)
}

// AdminStore is every admin API; sqlstore and localstore implement it.
type AdminStore interface {
	UserIndex
	ProfileLister
	NodeLister
	TombstonePruner
}

// ListedProfile is one live profile as ListProfiles and Export return it.
type ListedProfile struct {
	Key   ProfileKey
	Owner string // "" when unowned
	Epoch int64
	// UserIDs are the user ids the newest save set (sorted); empty when
	// none was ever set.
	UserIDs []string
	// Snapshot is the newest snapshot, nil when the profile was never saved.
	Snapshot *Snapshot
}

// NodeStatus is one node incarnation as ListNodes reports it.
type NodeStatus struct {
	ID             string
	Address        string
	StartedAt      time.Time
	LeaseExpiresAt time.Time // when the lease ended or ends; for a released node, when it was released
	Now            time.Time // the store's clock when read
	// Live: the lease has not ended by the store's clock.
	Live bool
	// Released: the node ended its incarnation with ReleaseNode (false for
	// one whose lease lapsed, and for nodes released before the SQL store
	// recorded releases).
	Released bool
	// Profiles is how many profiles name it as owner. For a node that is not
	// live these are profiles any node may take.
	Profiles int
}

// Pruned counts what PruneTombstones deleted.
type Pruned struct {
	Nodes    int
	Profiles int
}

const (
	// MaxUserIDs is the most user ids one profile carries.
	MaxUserIDs = 16
	// MaxUserIDLen: user ids are 1..128 bytes of printable ASCII (0x21..0x7e).
	MaxUserIDLen = 128
	// DefaultListPage and MaxListPage bound a ListProfiles page.
	DefaultListPage = 100
	MaxListPage     = 1000
	// MinPruneAge is the shortest window PruneTombstones accepts: far longer
	// than any lease, so nothing still running can hold what is pruned.
	MinPruneAge = 24 * time.Hour
)

// ValidateUserID checks one user id.
func ValidateUserID(id string) error {
	if len(id) == 0 || len(id) > MaxUserIDLen {
		return invalid("user id", id, fmt.Sprintf("length must be 1..%d bytes", MaxUserIDLen))
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return invalid("user id", id, "must be printable ASCII without spaces")
		}
	}
	return nil
}

// ValidateUserIDs checks a SaveRow's user id set: nil (unchanged) or at
// most MaxUserIDs valid ids, none twice.
func ValidateUserIDs(ids []string) error {
	if len(ids) > MaxUserIDs {
		return &LimitError{What: "user ids", Limit: fmt.Sprintf("%d ids, limit %d", len(ids), MaxUserIDs), kind: ErrInvalid}
	}
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if err := ValidateUserID(id); err != nil {
			return err
		}
		if _, dup := seen[id]; dup {
			return invalid("user id", id, "appears twice in one set")
		}
		seen[id] = struct{}{}
	}
	return nil
}

// ValidateListQuery checks and normalises a ListProfiles page request.
func ValidateListQuery(namespace, after string, limit int) (int, error) {
	if err := ValidateNamespace(namespace); err != nil {
		return 0, err
	}
	if after != "" {
		if err := ValidateProfileID(after); err != nil {
			return 0, err
		}
	}
	if limit < 0 {
		return 0, invalid("limit", fmt.Sprint(limit), "must not be negative")
	}
	if limit == 0 {
		return DefaultListPage, nil
	}
	if limit > MaxListPage {
		return 0, tooLarge("profile page", limit, MaxListPage)
	}
	return limit, nil
}

// ValidatePruneAge checks PruneTombstones' window.
func ValidatePruneAge(olderThan time.Duration) error {
	if olderThan < MinPruneAge {
		return invalid("prune window", olderThan.String(), fmt.Sprintf("must be at least %s", MinPruneAge))
	}
	return nil
}
