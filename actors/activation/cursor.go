package activation

import (
	"strconv"
	"strings"
)

// An event cursor names a position in one activation's event sequence:
// "epoch.seq". The epoch identifies the activation (epochs are unique per
// profile across nodes), so a cursor from an activation that has ended is
// recognised as such and the poller told to resynchronise.

// Cursor formats a position.
func Cursor(epoch, seq int64) string {
	return strconv.FormatInt(epoch, 10) + "." + strconv.FormatInt(seq, 10)
}

// ParseCursor reads a cursor; ok is false for anything Cursor did not make.
func ParseCursor(c string) (epoch, seq int64, ok bool) {
	e, s, found := strings.Cut(c, ".")
	if !found {
		return 0, 0, false
	}
	epoch, err1 := strconv.ParseInt(e, 10, 64)
	seq, err2 := strconv.ParseInt(s, 10, 64)
	return epoch, seq, err1 == nil && err2 == nil && epoch > 0 && seq >= 0
}

// cursorHere is the cursor after the last event published, for answers
// that start a follower (Acquire, Get); it asks the shell to keep this
// profile's events from now on.
func (m *Machine) cursorHere() string {
	m.emit().Followed = true
	return Cursor(m.epoch, m.eventSeq)
}
