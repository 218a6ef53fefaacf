package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hearth-profiles/hearth/cluster/gateway"
)

// The node's admin endpoints, on the gateway address next to /readyz and
// /metrics, for operators' tools (cmd/hearthctl).
//
// POST /admin/drain asks the node to drain and exit: Run wakes as it does
// on SIGTERM (readiness off, leave the membership, passivate every profile,
// release the lease, close), so an operator or an orchestrator without
// access to the node's process can take it out of the cluster without
// losing a write. It answers 202 at once with the node id; the drain runs
// after the answer. Asking again while it drains answers 202 again. With
// ?node=ID it drains only if it is that node incarnation, else it answers
// 409 (a tool that found the address in the store's node list must not
// stop another node that listens there now).
//
// Admin endpoints need a token of the admin scope: on a gateway without
// tokens they answer 403 (a node on loopback may run without any, but
// nothing should be able to stop it just by reaching its port); a token of
// a lower scope is refused as any request of too low a scope is.

// AdminDrainPath is where the drain endpoint is served.
const AdminDrainPath = "/admin/drain"

// DrainStarted is the drain endpoint's answer.
type DrainStarted struct {
	Node     string `json:"node"`
	Draining bool   `json:"draining"`
}

// adminDrain serves AdminDrainPath to callers auth finds with the admin
// scope.
func (n *Node) adminDrain(auth *gateway.Auth) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if want := r.URL.Query().Get("node"); want != "" && want != n.id {
			http.Error(w, fmt.Sprintf("this is node %q, not %q: nothing drained", n.id, want), http.StatusConflict)
			return
		}
		n.requestDrain()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(DrainStarted{Node: n.id, Draining: true})
	})
	if auth.Open() {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "admin endpoints are disabled: the node has no gateway token", http.StatusForbidden)
		})
	}
	return auth.Require(gateway.ScopeAdmin, h)
}

// requestDrain wakes Run as a signal would. Only the first call counts.
func (n *Node) requestDrain() {
	n.drainOnce.Do(func() { close(n.drainRequested) })
}
