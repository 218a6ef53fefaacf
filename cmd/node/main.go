// Command node runs a Hearth node. With no database and no Consul
// configured it is the embedded single node: store in ./data, gateway on
// 127.0.0.1:8080. Run it with --help for every setting; docs/OPERATIONS.md
// explains them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/hearth-profiles/hearth/cluster"
	"github.com/hearth-profiles/hearth/cluster/nodestore"
	"github.com/hearth-profiles/hearth/config"
)

func main() {
	if err := run(os.Args[1:], os.Environ()); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "hearth node:", err)
		os.Exit(1)
	}
}

func run(args, environ []string) error {
	fs, err := config.FlagSet("node")
	if err != nil {
		return err
	}
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: node [flags]\n\nRuns a Hearth profile node. Settings come from defaults, then --config (YAML),\nthen HEARTH_* environment variables, then flags.\n\n%s", fs.FlagUsages())
	}
	cfg, err := config.Load(fs, args, environ)
	if err != nil {
		return err
	}
	log := cfg.Logger()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	node, err := cluster.Start(ctx, cfg, nodestore.Open, log)
	if err != nil {
		return err
	}
	return node.Run(ctx)
}
