package session

import (
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxSessionLen is the longest session id, in bytes. Ids are stored in every
// snapshot and echoed in errors and logs, so they are kept short.
const MaxSessionLen = 128

// validateSession accepts a non-empty id of at most MaxSessionLen bytes of
// valid UTF-8 without control characters. Control characters are refused
// because ids end up in logs and in other servers' error messages, where a
// newline or escape sequence could forge or hide lines.
func validateSession(id string) error {
	switch {
	case id == "":
		return invalid(ErrInvalidSession, "session id", "", "must not be empty")
	case len(id) > MaxSessionLen:
		return invalid(ErrInvalidSession, "session id", printable(id),
			strconv.Itoa(len(id))+" bytes, limit "+strconv.Itoa(MaxSessionLen))
	case !utf8.ValidString(id):
		return invalid(ErrInvalidSession, "session id", printable(id), "not valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return invalid(ErrInvalidSession, "session id", printable(id), "contains a control character")
		}
	}
	return nil
}

func validateTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return invalid(ErrInvalidTTL, "ttl", ttl.String(), "must be positive")
	}
	return nil
}

// validateToken rejects an empty token. The token itself is never put in
// the error: it may be a live secret.
func validateToken(what, token string) error {
	if token == "" {
		return invalid(ErrInvalidToken, what, "", what+" must not be empty")
	}
	return nil
}

func validateMode(m Mode) error {
	if !m.valid() {
		return invalid(ErrInvalidMode, "mode", m.String(), "must be ModeFail, ModeWait or ModeSteal")
	}
	return nil
}
