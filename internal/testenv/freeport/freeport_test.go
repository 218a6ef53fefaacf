package freeport

import (
	"fmt"
	"net"
	"testing"
)

func TestGetReturnsDistinctBindablePorts(t *testing.T) {
	ports, err := Get(5)
	if err != nil {
		t.Fatalf("Get(5): %v", err)
	}
	if len(ports) != 5 {
		t.Fatalf("Get(5) returned %d ports, want 5", len(ports))
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d returned twice in %v", p, ports)
		}
		seen[p] = true
		// The point of the helper is that a server can bind the port next.
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d from Get is not bindable: %v", p, err)
		}
		l.Close()
	}
}

func TestGetRejectsNonPositive(t *testing.T) {
	if _, err := Get(0); err == nil {
		t.Fatal("Get(0) returned no error")
	}
}
