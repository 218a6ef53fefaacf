package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/cluster"
	"github.com/hearth-profiles/hearth/persistence"
	"github.com/hearth-profiles/hearth/persistence/sqlstore"
)

func (a *app) nodeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Act on one node",
	}
	cmd.AddCommand(a.nodeDrain())
	return cmd
}

// drainResult is what node drain reports.
type drainResult struct {
	Node    string `json:"node"`
	Address string `json:"address"`
	// Finished: the drain was seen to end (the store shows the lease ended,
	// or the node's gateway stopped answering); false with --wait=false.
	Finished bool    `json:"finished"`
	Seconds  float64 `json:"seconds"`
}

func (a *app) nodeDrain() *cobra.Command {
	var (
		address string
		wait    bool
		within  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "drain [NODE_ID]",
		Short: "Ask a node to drain (save and hand off every profile) and exit, as SIGTERM does",
		Long: `Sends POST /admin/drain to the node's gateway address with --token.
The node is named by its id, whose address the store's node list gives
(--db; the node must be live), or by --address HOST:PORT directly; with
both, the node refuses unless it is that incarnation. The scheme is
--gateway's (https when it is https).

It then waits (unless --wait=false) until the drain ends: with --db until
the store shows the node's lease ended, showing the profiles it still owns;
without, until its gateway stops answering.`,
		Args: func(cmd *cobra.Command, argv []string) error {
			if len(argv) > 1 || len(argv) == 0 && address == "" {
				return usageError{errors.New("node drain takes a NODE_ID, or --address HOST:PORT")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			nodeID := ""
			if len(argv) == 1 {
				nodeID = argv[0]
			}
			var st *sqlstore.Store
			if a.db != "" {
				var err error
				if st, err = a.openStore(ctx, true); err != nil {
					return err
				}
				defer st.Close()
			}
			total := -1
			if nodeID != "" && address == "" {
				if st == nil {
					return usageError{errors.New("to find node " + nodeID + "'s address give --db, or give --address")}
				}
				n, err := findNode(ctx, st, nodeID)
				if err != nil {
					return err
				}
				address, total = n.Address, n.Profiles
			}
			start := time.Now()
			started, err := a.postDrain(ctx, address, nodeID)
			if err != nil {
				return err
			}
			out := drainResult{Node: started.Node, Address: address}
			if wait {
				var bar *progress
				if st != nil {
					bar = a.newProgress(int64(total), "draining "+started.Node, false)
				}
				if err := a.waitDrained(ctx, st, started.Node, address, total, bar, within); err != nil {
					return err
				}
				out.Finished = true
			}
			out.Seconds = time.Since(start).Seconds()
			return a.emit(out, func(w io.Writer) {
				if out.Finished {
					fmt.Fprintf(w, "node %s (%s) drained in %.1fs\n", out.Node, out.Address, out.Seconds)
				} else {
					fmt.Fprintf(w, "node %s (%s) is draining\n", out.Node, out.Address)
				}
			})
		},
	}
	cmd.Flags().StringVar(&address, "address", "", "the node's gateway address (host:port), instead of looking it up in the store")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until the drain has ended")
	cmd.Flags().DurationVar(&within, "wait-timeout", 3*time.Minute, "give up waiting after this long (the node's drain.timeout bounds the drain itself)")
	return cmd
}

// findNode looks a live node up in the store's node list.
func findNode(ctx context.Context, st *sqlstore.Store, id string) (persistence.NodeStatus, error) {
	nodes, err := st.ListNodes(ctx)
	if err != nil {
		return persistence.NodeStatus{}, err
	}
	for _, n := range nodes {
		if n.ID != id {
			continue
		}
		if !n.Live {
			return n, fmt.Errorf("node %s is not live (%s; its lease ended %s): there is nothing to drain", id, stateOf(n), when(n.LeaseExpiresAt))
		}
		return n, nil
	}
	return persistence.NodeStatus{}, fmt.Errorf("node %s: %w in the store's node list (nodes list shows them)", id, persistence.ErrNotFound)
}

// adminURL is the node's admin endpoint at address, in --gateway's scheme.
func (a *app) adminURL(address, path string) string {
	scheme := "http"
	if u, err := url.Parse(a.gateway); err == nil && u.Scheme == "https" {
		scheme = "https"
	}
	return scheme + "://" + address + path
}

// postDrain asks the node at address to drain; nodeID, if set, must be
// its id.
func (a *app) postDrain(ctx context.Context, address, nodeID string) (cluster.DrainStarted, error) {
	target := a.adminURL(address, cluster.AdminDrainPath)
	if nodeID != "" {
		target += "?node=" + url.QueryEscape(nodeID)
	}
	rctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, target, nil)
	if err != nil {
		return cluster.DrainStarted{}, err
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.httpClient.Do(req)
	if err != nil {
		return cluster.DrainStarted{}, fmt.Errorf("drain %s: %w", address, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusAccepted {
		return cluster.DrainStarted{}, fmt.Errorf("drain %s refused: %s: %s", address, res.Status, trimBody(body))
	}
	var started cluster.DrainStarted
	if err := json.Unmarshal(body, &started); err != nil || !started.Draining {
		return cluster.DrainStarted{}, fmt.Errorf("drain %s: unexpected answer %q", address, trimBody(body))
	}
	return started, nil
}

func trimBody(b []byte) string {
	const max = 300
	if len(b) > max {
		b = b[:max]
	}
	return string(b)
}

// waitDrained polls until the drain has ended: the store shows the node's
// lease ended (with st), or the gateway stops answering (without).
func (a *app) waitDrained(ctx context.Context, st *sqlstore.Store, nodeID, address string, total int, bar *progress, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		done, owned, err := a.drained(ctx, st, nodeID, address)
		if err != nil {
			return err
		}
		if bar != nil && total >= 0 {
			bar.set(int64(max(total-owned, 0)))
		}
		if done {
			if bar != nil {
				bar.finish()
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: the drain did not end within %s (it may still be draining; nodes list shows its state)", nodeID, within)
		case <-tick.C:
		}
	}
}

// drained reports whether the drain ended, and how many profiles the node
// still owns (with a store).
func (a *app) drained(ctx context.Context, st *sqlstore.Store, nodeID, address string) (bool, int, error) {
	if st != nil {
		nodes, err := st.ListNodes(ctx)
		if err != nil {
			return false, 0, err
		}
		for _, n := range nodes {
			if n.ID == nodeID {
				return !n.Live, n.Profiles, nil
			}
		}
		return true, 0, nil // pruned: long gone
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, a.adminURL(address, "/healthz"), nil)
	if err != nil {
		return false, 0, err
	}
	res, err := a.httpClient.Do(req)
	if err != nil {
		return ctx.Err() == nil, 0, nil // no answer: the node has exited
	}
	res.Body.Close()
	return false, 0, nil
}
