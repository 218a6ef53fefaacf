package localstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hearth-profiles/hearth/persistence"
)

// The admin APIs (persistence.AdminStore) on the local engines. They scan
// buckets: fine for a single node's store and for admin commands.

var _ persistence.AdminStore = (*Store)(nil)

// userKey is users' key: userID \x00 ns \x00 id. User ids are printable
// ASCII, so the first \x00 ends the user id.
func userKey(userID string, k persistence.ProfileKey) []byte {
	return []byte(userID + "\x00" + k.Namespace + "\x00" + k.ID)
}

// profUserKey is profusers' key: ns \x00 id \x00 userID.
func profUserKey(k persistence.ProfileKey, userID string) []byte {
	return append(profilePrefix(k), userID...)
}

// userIDsOf reads a profile's user ids, sorted.
func userIDsOf(tx kvTx, k persistence.ProfileKey) ([]string, error) {
	prefix := profilePrefix(k)
	var ids []string
	err := tx.Scan(bucketProfUsers, prefix, nil, func(key, _ []byte) (bool, error) {
		ids = append(ids, string(key[len(prefix):]))
		return true, nil
	})
	return ids, err
}

// setUserIDs replaces a profile's user ids with ids (both indexes).
func setUserIDs(tx kvTx, k persistence.ProfileKey, ids []string) error {
	old, err := userIDsOf(tx, k)
	if err != nil {
		return err
	}
	for _, id := range old {
		if slices.Contains(ids, id) {
			continue
		}
		if err := tx.Delete(bucketProfUsers, profUserKey(k, id)); err != nil {
			return err
		}
		if err := tx.Delete(bucketUsers, userKey(id, k)); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if err := tx.Put(bucketProfUsers, profUserKey(k, id), nil); err != nil {
			return err
		}
		if err := tx.Put(bucketUsers, userKey(id, k), nil); err != nil {
			return err
		}
	}
	return nil
}

// ProfilesByUser lists the live profiles carrying userID.
func (s *Store) ProfilesByUser(ctx context.Context, userID string) ([]persistence.ProfileKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localstore: profiles by user: %w", err)
	}
	if err := persistence.ValidateUserID(userID); err != nil {
		return nil, fmt.Errorf("localstore: profiles by user: %w", err)
	}
	out := []persistence.ProfileKey{}
	prefix := []byte(userID + "\x00")
	err := s.kv.View(func(tx kvTx) error {
		return tx.Scan(bucketUsers, prefix, nil, func(key, _ []byte) (bool, error) {
			ns, id, ok := strings.Cut(string(key[len(prefix):]), "\x00")
			if !ok {
				return false, fmt.Errorf("%w: user index key %q", errCorrupt, key)
			}
			out = append(out, persistence.ProfileKey{Namespace: ns, ID: id})
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("localstore: profiles by user: %w", err)
	}
	return out, nil
}

// ListProfiles pages through a namespace's live profiles in id order.
func (s *Store) ListProfiles(ctx context.Context, namespace, after string, limit int) ([]persistence.ListedProfile, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localstore: list profiles: %w", err)
	}
	limit, err := persistence.ValidateListQuery(namespace, after, limit)
	if err != nil {
		return nil, fmt.Errorf("localstore: list profiles: %w", err)
	}
	var out []persistence.ListedProfile
	err = s.kv.View(func(tx kvTx) error {
		out, err = listProfiles(tx, namespace, after, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("localstore: list profiles %s: %w", namespace, err)
	}
	return out, nil
}

// Export reads every live profile of a namespace in one read transaction,
// so from one consistent state, and then calls fn for each outside it (fn
// may use the store). The namespace is held in memory meanwhile: these are
// single-node stores.
func (s *Store) Export(ctx context.Context, namespace string, fn func(persistence.ListedProfile) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localstore: export: %w", err)
	}
	if err := persistence.ValidateNamespace(namespace); err != nil {
		return fmt.Errorf("localstore: export: %w", err)
	}
	var all []persistence.ListedProfile
	err := s.kv.View(func(tx kvTx) error {
		var err error
		all, err = listProfiles(tx, namespace, "", -1)
		return err
	})
	if err != nil {
		return fmt.Errorf("localstore: export %s: %w", namespace, err)
	}
	for _, p := range all {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("localstore: export %s: %w", namespace, err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// listProfiles reads up to limit live profiles after the id after (limit
// < 0: all of them).
func listProfiles(tx kvTx, namespace, after string, limit int) ([]persistence.ListedProfile, error) {
	prefix := []byte(namespace + "\x00")
	var start []byte
	if after != "" {
		// Ids hold no \x00, so this sorts after the key of `after` and
		// before the next id.
		start = append(profileKeyBytes(persistence.ProfileKey{Namespace: namespace, ID: after}), 0)
	}
	out := []persistence.ListedProfile{}
	err := tx.Scan(bucketProfiles, prefix, start, func(key, val []byte) (bool, error) {
		k := persistence.ProfileKey{Namespace: namespace, ID: string(key[len(prefix):])}
		pv, err := decodeProfile(val)
		if err != nil {
			return false, fmt.Errorf("profile %s: %w", k, err)
		}
		if pv.State.Deleted {
			return true, nil
		}
		lp := persistence.ListedProfile{Key: k, Owner: pv.State.Owner, Epoch: pv.State.Epoch}
		if lp.UserIDs, err = userIDsOf(tx, k); err != nil {
			return false, err
		}
		if pv.State.Seq > 0 {
			snap, err := readSnapshot(tx, k, pv.State.Seq)
			if err != nil {
				return false, err
			}
			lp.Snapshot = &snap
		}
		out = append(out, lp)
		return limit < 0 || len(out) < limit, nil
	})
	return out, err
}

// ListNodes lists every node incarnation with the profiles it owns.
func (s *Store) ListNodes(ctx context.Context) ([]persistence.NodeStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localstore: list nodes: %w", err)
	}
	var out []persistence.NodeStatus
	err := s.kv.View(func(tx kvTx) error {
		now := s.now()
		owned, err := ownerCounts(tx)
		if err != nil {
			return err
		}
		out = []persistence.NodeStatus{}
		return tx.Scan(bucketNodes, nil, nil, func(key, val []byte) (bool, error) {
			v, err := decodeNode(val)
			if err != nil {
				return false, fmt.Errorf("node %q: %w", key, err)
			}
			out = append(out, persistence.NodeStatus{
				ID: string(key), Address: v.Address, StartedAt: v.Registered, LeaseExpiresAt: v.Expires, Now: now,
				Live: !v.Released && persistence.LeaseLive(v.Expires, now), Released: v.Released,
				Profiles: owned[string(key)],
			})
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("localstore: list nodes: %w", err)
	}
	return out, nil
}

// ownerCounts counts the live profiles each node owns (a full scan).
func ownerCounts(tx kvTx) (map[string]int, error) {
	owned := map[string]int{}
	err := tx.Scan(bucketProfiles, nil, nil, func(key, val []byte) (bool, error) {
		pv, err := decodeProfile(val)
		if err != nil {
			return false, fmt.Errorf("profile %q: %w", key, err)
		}
		if pv.State.Owner != "" && !pv.State.Deleted {
			owned[pv.State.Owner]++
		}
		return true, nil
	})
	return owned, err
}

// PruneTombstones deletes ended node incarnations no profile names and old
// profile tombstones. A tombstone without an erase time (written before it
// was recorded) is stamped now and pruned a window later.
func (s *Store) PruneTombstones(ctx context.Context, olderThan time.Duration) (persistence.Pruned, error) {
	if err := ctx.Err(); err != nil {
		return persistence.Pruned{}, fmt.Errorf("localstore: prune: %w", err)
	}
	if err := persistence.ValidatePruneAge(olderThan); err != nil {
		return persistence.Pruned{}, fmt.Errorf("localstore: prune: %w", err)
	}
	var out persistence.Pruned
	err := s.kv.Update(func(tx kvTx) error {
		now := s.now()
		cutoff := now.Add(-olderThan)
		out = persistence.Pruned{}
		owned, err := ownerCounts(tx)
		if err != nil {
			return err
		}
		var nodes, tombs, unstamped [][]byte
		err = tx.Scan(bucketNodes, nil, nil, func(key, val []byte) (bool, error) {
			v, err := decodeNode(val)
			if err != nil {
				return false, fmt.Errorf("node %q: %w", key, err)
			}
			ended := v.Released || !persistence.LeaseLive(v.Expires, now)
			if ended && !v.Expires.After(cutoff) && owned[string(key)] == 0 {
				nodes = append(nodes, bytes.Clone(key))
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		err = tx.Scan(bucketProfiles, nil, nil, func(key, val []byte) (bool, error) {
			pv, err := decodeProfile(val)
			if err != nil {
				return false, fmt.Errorf("profile %q: %w", key, err)
			}
			switch {
			case !pv.State.Deleted:
			case pv.Created.IsZero():
				unstamped = append(unstamped, bytes.Clone(key))
			case !pv.Created.After(cutoff):
				tombs = append(tombs, bytes.Clone(key))
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, k := range nodes {
			if err := tx.Delete(bucketNodes, k); err != nil {
				return err
			}
		}
		for _, k := range tombs {
			if err := tx.Delete(bucketProfiles, k); err != nil {
				return err
			}
		}
		for _, k := range unstamped {
			pv := profileValue{State: persistence.ProfileState{Deleted: true}, Created: now}
			raw := tx.Get(bucketProfiles, k)
			old, err := decodeProfile(raw)
			if err != nil {
				return err
			}
			pv.State.Epoch = old.State.Epoch
			if err := tx.Put(bucketProfiles, k, encodeProfile(pv)); err != nil {
				return err
			}
		}
		out.Nodes, out.Profiles = len(nodes), len(tombs)
		return nil
	})
	if err != nil {
		return persistence.Pruned{}, fmt.Errorf("localstore: prune: %w", err)
	}
	return out, nil
}
