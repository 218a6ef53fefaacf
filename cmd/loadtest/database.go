package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// databaseUpstream is where a database URL (a postgres:// URL or a
// key=value string, as pgx reads them) connects: "tcp" and host:port, or
// "unix" and the socket's path.
func databaseUpstream(dbURL string) (network, addr string, err error) {
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		return "", "", fmt.Errorf("database URL: %w", err)
	}
	for _, fb := range cfg.Fallbacks { // sslmode=prefer adds the same host again
		if fb.Host != cfg.Host || fb.Port != cfg.Port {
			return "", "", errors.New("database URL: more than one host; -db-latency needs one")
		}
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port)), nil
	}
	return "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), nil
}

// viaProxy rewrites a database URL to dial addr (host:port) instead,
// keeping every other setting. TLS passes through the proxy, but
// sslmode=verify-full would check the certificate against the proxy's
// address, so it is refused.
func viaProxy(dbURL, addr string) (string, error) {
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	if cfg.TLSConfig != nil && cfg.TLSConfig.ServerName != "" {
		return "", errors.New("database URL: sslmode=verify-full checks the host name, which -db-latency's proxy changes; use sslmode=require")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://") {
		u, err := url.Parse(dbURL)
		if err != nil {
			return "", fmt.Errorf("database URL: %w", err)
		}
		q := u.Query()
		q.Del("host")
		q.Del("port")
		u.Host, u.RawQuery = addr, q.Encode()
		return u.String(), nil
	}
	// key=value: a later key overrides an earlier one.
	return dbURL + " host=" + host + " port=" + port, nil
}

// listenerPID finds the process on this machine that listens where a
// database URL connects (the PostgreSQL postmaster), to measure the
// database's CPU. Only a loopback host or a unix socket is looked up: a
// port on this machine says nothing about a remote database.
func listenerPID(dbURL string) (int, error) {
	network, addr, err := databaseUpstream(dbURL)
	if err != nil {
		return 0, err
	}
	var inode string
	if network == "unix" {
		inode, err = unixListenerInode(addr)
	} else {
		host, port, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return 0, fmt.Errorf("database host %s is not this machine's loopback; give -db-pid", host)
		}
		p, _ := strconv.Atoi(port)
		inode, err = tcpListenerInode(p)
	}
	if err != nil {
		return 0, err
	}
	return socketOwner(inode)
}

// tcpListenerInode finds the socket inode listening on port.
func tcpListenerInode(port int) (string, error) {
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fields, err := procNetLines(f)
		if err != nil {
			continue
		}
		for _, l := range fields {
			if len(l) > 9 && strings.HasSuffix(l[1], want) && l[3] == "0A" { // 0A: LISTEN
				return l[9], nil
			}
		}
	}
	return "", fmt.Errorf("no process listens on port %d here", port)
}

// unixListenerInode finds the inode of the listening unix socket at path.
func unixListenerInode(path string) (string, error) {
	lines, err := procNetLines("/proc/net/unix")
	if err != nil {
		return "", err
	}
	for _, l := range lines {
		if len(l) > 7 && l[7] == path && l[3] == "00010000" { // __SO_ACCEPTCON: listening
			return l[6], nil
		}
	}
	return "", fmt.Errorf("no process listens on %s", path)
}

func procNetLines(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	s := bufio.NewScanner(f)
	for s.Scan() {
		out = append(out, strings.Fields(s.Text()))
	}
	return out, s.Err()
}

// socketOwner is a process holding socket inode open (PostgreSQL's
// backends close the postmaster's listening sockets, so it is the
// postmaster).
func socketOwner(inode string) (int, error) {
	want := "socket:[" + inode + "]"
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); link == want {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process holds socket %s (not root?)", inode)
}
