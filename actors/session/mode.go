package session

import "fmt"

// Mode says what Acquire does when another live session holds the profile.
// The zero value is deliberately invalid, so a caller that forgot to map the
// wire's mode gets ErrInvalidMode rather than a silent default.
type Mode int

const (
	// ModeFail answers Conflict at once.
	ModeFail Mode = iota + 1
	// ModeWait answers Wait; the caller keeps the request pending and asks
	// again when the session ends or lapses or its own wait deadline passes.
	ModeWait
	// ModeSteal takes the session over at once: new token, and the previous
	// holder's token stops working.
	ModeSteal
)

func (m Mode) valid() bool { return m >= ModeFail && m <= ModeSteal }

func (m Mode) String() string {
	switch m {
	case ModeFail:
		return "fail"
	case ModeWait:
		return "wait"
	case ModeSteal:
		return "steal"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}
