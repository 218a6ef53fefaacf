package session

import "fmt"

// Outcome is what Acquire decided.
type Outcome int

const (
	Granted  Outcome = iota + 1 // the profile was free (never held, released or lapsed): new token
	Reused                      // the same session id already held it: SAME token kept, expiry renewed (a quick rejoin reuses the session)
	Stolen                      // ModeSteal took it from another live holder: new token; Previous names the old holder
	Conflict                    // ModeFail against another live holder: nothing changed
	Wait                        // ModeWait against another live holder: nothing changed; the caller re-evaluates later (after Remaining at most)
)

func (o Outcome) String() string {
	switch o {
	case Granted:
		return "granted"
	case Reused:
		return "reused"
	case Stolen:
		return "stolen"
	case Conflict:
		return "conflict"
	case Wait:
		return "wait"
	default:
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
}

// HasToken reports whether the outcome gives the caller the session's token
// (Granted, Reused, Stolen). Conflict and Wait never carry one: it is the
// other holder's secret.
func (o Outcome) HasToken() bool { return o == Granted || o == Reused || o == Stolen }
