package messages

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// errorTableRow is the row docs/API.md shows for one code.
func errorTableRow(code string, s Status) string {
	retry := "no"
	if s.Retryable {
		retry = "yes"
	}
	return fmt.Sprintf("| `%s` | %d | `%s` | %s | %s |", code, s.HTTP, strings.ToUpper(s.GRPC.String()), retry, s.Action)
}

// TestAPIDocErrorTable: docs/API.md prints the status table as it is in
// the code, row for row.
func TestAPIDocErrorTable(t *testing.T) {
	doc, err := os.ReadFile("../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range Codes() {
		row := errorTableRow(code.String(), StatusOf(code))
		if !strings.Contains(string(doc), row+"\n") {
			t.Errorf("docs/API.md lacks the row\n%s", row)
		}
	}
}
