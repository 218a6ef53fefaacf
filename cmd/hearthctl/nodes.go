package main

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/persistence"
)

// nodeRow is one node incarnation as nodes list prints it.
type nodeRow struct {
	ID             string    `json:"id"`
	Address        string    `json:"address"`
	StartedAt      time.Time `json:"started_at"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	// State is live (lease running), released (it drained or stopped) or
	// lapsed (its lease ran out: it crashed, hung or lost the database).
	State string `json:"state"`
	// Profiles is how many profiles name it as owner: for a live node the
	// profiles it has loaded (activated); for any other, profiles a node
	// may take over.
	Profiles int `json:"profiles"`
	// Consul is its registration in Consul (with --consul); nil when it
	// has none.
	Consul *consulMember `json:"consul,omitempty"`
}

// consulMember is one registration of the cluster's Consul service.
type consulMember struct {
	ID      string `json:"id"`
	Node    string `json:"node"`
	Address string `json:"address"` // the actor remote's address
	Status  string `json:"status"`  // passing, warning or critical
}

// nodeList is what nodes list prints.
type nodeList struct {
	Nodes []nodeRow `json:"nodes"`
	// Unmatched lists Consul registrations whose node the store does not
	// know (with --consul).
	Unmatched []consulMember `json:"unmatched_consul_members,omitempty"`
}

func stateOf(n persistence.NodeStatus) string {
	switch {
	case n.Live:
		return "live"
	case n.Released:
		return "released"
	default:
		return "lapsed"
	}
}

func (a *app) nodesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "The cluster's nodes",
	}
	var (
		consulAddr, service string
		liveOnly            bool
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List node incarnations: lease, state, profiles owned (--db), and Consul membership (--consul)",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx, true)
			if err != nil {
				return err
			}
			defer st.Close()
			nodes, err := st.ListNodes(ctx)
			if err != nil {
				return err
			}
			out := nodeList{Nodes: []nodeRow{}}
			byNode := map[string]consulMember{}
			if consulAddr != "" {
				members, err := consulMembers(consulAddr, service)
				if err != nil {
					return err
				}
				for _, m := range members {
					byNode[m.Node] = m
				}
			}
			for _, n := range nodes {
				if liveOnly && !n.Live {
					continue
				}
				row := nodeRow{ID: n.ID, Address: n.Address, StartedAt: n.StartedAt, LeaseExpiresAt: n.LeaseExpiresAt,
					State: stateOf(n), Profiles: n.Profiles}
				if m, ok := byNode[n.ID]; ok {
					row.Consul = &m
					delete(byNode, n.ID)
				}
				out.Nodes = append(out.Nodes, row)
			}
			for _, m := range byNode {
				out.Unmatched = append(out.Unmatched, m)
			}
			slices.SortFunc(out.Unmatched, func(x, y consulMember) int { return strings.Compare(x.ID, y.ID) })
			return a.emit(out, func(w io.Writer) {
				rows := make([][]any, 0, len(out.Nodes))
				for _, n := range out.Nodes {
					member := "-"
					if n.Consul != nil {
						member = n.Consul.Status + " " + n.Consul.Address
					}
					rows = append(rows, []any{n.ID, n.State, n.Address, n.Profiles, when(n.StartedAt), when(n.LeaseExpiresAt), member})
				}
				header := []any{"NODE", "STATE", "GATEWAY", "PROFILES", "STARTED", "LEASE UNTIL", "CONSUL"}
				table(w, header, rows)
				for _, m := range out.Unmatched {
					fmt.Fprintf(w, "consul member %s (node %q, %s, %s) is not in the store\n", m.ID, m.Node, m.Address, m.Status)
				}
			})
		},
	}
	list.Flags().StringVar(&consulAddr, "consul", "", "also list the members registered in this Consul agent (host:port; CONSUL_HTTP_TOKEN and the CONSUL_* TLS variables apply)")
	list.Flags().StringVar(&service, "consul-service", "hearth", "the nodes' Consul service name (consul.service)")
	list.Flags().BoolVar(&liveOnly, "live", false, "only nodes whose lease is running")
	cmd.AddCommand(list)
	return cmd
}

// consulMembers lists every registration of service, passing or not.
func consulMembers(addr, service string) ([]consulMember, error) {
	cfg := api.DefaultConfig() // reads CONSUL_HTTP_TOKEN, CONSUL_CACERT, ...
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul %s: %w", addr, err)
	}
	entries, _, err := c.Health().Service(service, "", false, nil)
	if err != nil {
		return nil, fmt.Errorf("consul %s: service %s: %w", addr, service, err)
	}
	out := make([]consulMember, 0, len(entries))
	for _, e := range entries {
		host := e.Service.Address
		if host == "" {
			host = e.Node.Address
		}
		out = append(out, consulMember{ID: e.Service.ID, Node: e.Service.Meta["node"],
			Address: net.JoinHostPort(host, strconv.Itoa(e.Service.Port)), Status: e.Checks.AggregatedStatus()})
	}
	return out, nil
}
