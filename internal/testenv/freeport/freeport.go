// Package freeport hands out TCP ports on 127.0.0.1 that were free a moment
// ago, for tests that start real servers needing a fixed port on their
// command line (PostgreSQL, Consul) rather than accepting a listener.
//
// The ports are found by letting the kernel pick them (listen on port 0) and
// then closing the listeners, so there is an unavoidable window in which
// another process could take a port before the server binds it. Servers
// started by the test harness therefore report a bind failure as a startup
// error (with their log) instead of hanging.
package freeport

import (
	"errors"
	"fmt"
	"net"
)

// Get returns n distinct free TCP ports on 127.0.0.1.
//
// All n listeners are held open until every port has been chosen, so the
// kernel cannot hand out the same port twice within one call.
func Get(n int) ([]int, error) {
	if n < 1 {
		return nil, fmt.Errorf("freeport: need at least one port, got %d", n)
	}
	listeners := make([]net.Listener, 0, n)
	ports := make([]int, 0, n)
	var err error
	for range n {
		var l net.Listener
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			err = fmt.Errorf("freeport: listen on 127.0.0.1:0: %w", err)
			break
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("freeport: close listener %s: %w", l.Addr(), cerr))
		}
	}
	if err != nil {
		return nil, err
	}
	return ports, nil
}
