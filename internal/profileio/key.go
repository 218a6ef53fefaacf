package profileio

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/hearth-profiles/hearth/persistence"
)

// KeyPrefix starts every idempotency key an import sends.
const KeyPrefix = "import:"

// IdempotencyKey is the key of the Update that imports doc (the encoded
// document as written: compact, members sorted) and userIDs (sorted) into
// key: "import:" and the SHA-256 of exactly what the update writes. The
// same line imported again, from the same file or another, sends the same
// key, and the profile answers the first result (duplicate) without
// writing: a re-run after an interruption, or of a whole file, changes
// nothing, including profiles the game changed since. A line that writes
// anything different (another document, other user ids, another schema's
// migration of it) has another key and is applied.
//
// Keys live as long as the profile: after a profile is erased the same line
// imports it again.
func IdempotencyKey(key persistence.ProfileKey, doc []byte, userIDs []string) string {
	h := sha256.New()
	for _, part := range []string{key.Namespace, key.ID, string(doc), strings.Join(userIDs, "\x00")} {
		h.Write([]byte(part))
		h.Write([]byte{0xff}) // never inside UTF-8 text: parts cannot run together
	}
	return KeyPrefix + hex.EncodeToString(h.Sum(nil))
}
