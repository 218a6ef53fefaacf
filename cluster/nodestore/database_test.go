package nodestore

import (
	"testing"
	"time"
)

func TestWithIdleTxTimeout(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgresql://u@h:5432/db", "postgresql://u@h:5432/db?idle_in_transaction_session_timeout=1000ms"},
		{"postgres://u@h/db?sslmode=disable", "postgres://u@h/db?idle_in_transaction_session_timeout=1000ms&sslmode=disable"},
		{"postgres://u@h/db?idle_in_transaction_session_timeout=5s", "postgres://u@h/db?idle_in_transaction_session_timeout=5s"},
		{"host=h user=u dbname=db", "host=h user=u dbname=db idle_in_transaction_session_timeout=1000ms"},
		{"host=h idle_in_transaction_session_timeout=0", "host=h idle_in_transaction_session_timeout=0"},
	} {
		got, err := withIdleTxTimeout(c.in, time.Second)
		if err != nil || got != c.want {
			t.Errorf("%s: got %q %v, want %q", c.in, got, err, c.want)
		}
	}
}
