package nodestore

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// idleTxParam is the session setting (PostgreSQL and CockroachDB) that
// makes the database end a session idle inside a transaction.
const idleTxParam = "idle_in_transaction_session_timeout"

// withIdleTxTimeout adds idleTxParam to a database URL (or key=value DSN)
// unless the operator set it.
//
// Why: a node paused (SIGSTOP, a stalled VM) in the middle of a transaction
// keeps it open on the database for as long as it is paused. Its row locks
// then block the other nodes' takeovers of the rows it touched, and on
// PostgreSQL the predicate locks of the open SERIALIZABLE transaction make
// the other nodes' saves, acquires and even lease renewals fail with
// serialization errors: the paused node's profiles came back only when it
// woke, and the healthy nodes came close to losing their own leases. Our
// own transactions never idle between statements for more than the time
// it takes to build the next one, so a bound as short as the lease's
// safety margin costs nothing, and the paused node's transaction is gone
// before its lease lapses.
func withIdleTxTimeout(dbURL string, d time.Duration) (string, error) {
	value := fmt.Sprintf("%dms", max(d.Milliseconds(), 1))
	if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		if strings.Contains(dbURL, idleTxParam+"=") {
			return dbURL, nil
		}
		return dbURL + " " + idleTxParam + "=" + value, nil
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("database.url: %w", err)
	}
	q := u.Query()
	if q.Has(idleTxParam) {
		return dbURL, nil
	}
	q.Set(idleTxParam, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
