package sqlstore

import (
	"context"
	"testing"

	"github.com/hearth-profiles/hearth/persistence"
)

// TestDialect: version() strings of both databases, and the CockroachDB
// statement Export pins its transaction with (not run here: the tests have
// PostgreSQL only).
func TestDialect(t *testing.T) {
	for v, want := range map[string]sqlDialect{
		"PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu":                       postgreSQL,
		"CockroachDB CCL v24.1.0 (x86_64-pc-linux-gnu, built 2024/05/15 21:28:29, go1.22.2)":     cockroachDB,
		"CockroachDB OSS v21.2.17 (x86_64-unknown-linux-gnu, built 2022/10/26 18:02:59, go1.16)": cockroachDB,
	} {
		if got := dialectOf(v); got != want {
			t.Errorf("dialectOf(%q) = %v, want %v", v, got, want)
		}
	}
	if d, err := (harness{}).New(t, persistence.Limits{}).(*Store).dialect(context.Background()); err != nil || d != postgreSQL {
		t.Errorf("dialect of the test database = %v, %v; want PostgreSQL", d, err)
	}
	stmt, err := asOfSystemTime("1732841234567890123.0000000001")
	if err != nil || stmt != "SET TRANSACTION AS OF SYSTEM TIME 1732841234567890123.0000000001" {
		t.Errorf("asOfSystemTime = %q, %v", stmt, err)
	}
	for _, bad := range []string{"", "1; DROP TABLE hearth_profiles", "'-1s'", "1.2.3"} {
		if _, err := asOfSystemTime(bad); err == nil {
			t.Errorf("asOfSystemTime(%q) accepted", bad)
		}
	}
}
