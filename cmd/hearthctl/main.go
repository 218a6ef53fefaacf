// Command hearthctl is the operator's tool for a Hearth cluster: profile
// history and restores, purchases, GDPR erasure, nodes and draining,
// tombstone pruning, migration dry runs, export and import. Run
// `hearthctl --help`; docs/OPERATIONS.md ("Admin CLI") describes every
// command.
//
// Changes to a profile always go through the gateway, so its owner applies
// them fenced like any other request; the database is opened directly
// (--db) only to read (listings, export, dry runs, finding a user's
// profiles) and to prune tombstones.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/messages"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1 // the command could not do its work
	exitUsage    = 2 // bad flags or arguments
	exitFindings = 3 // it ran, but some items failed (import lines, erasures, dry-run profiles)
)

// Environment variables that stand in for the global flags. They do not
// start with HEARTH_, which the node's configuration owns (config.Load
// refuses unknown HEARTH_ variables).
const (
	envGateway = "HEARTHCTL_GATEWAY"
	envToken   = "HEARTHCTL_TOKEN"
	envDB      = "HEARTHCTL_DB"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// app is one invocation: its streams, environment and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string

	gateway    string
	token      string
	db         string
	jsonOut    bool
	timeout    time.Duration
	noProgress bool

	httpClient *http.Client
}

// usageError marks bad flags or arguments (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// errFindings: the command ran and reported items that failed (exit 3).
var errFindings = errors.New("some items failed")

// execute runs hearthctl with args and returns the exit code.
func execute(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, environ: environ, httpClient: &http.Client{}}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errFindings):
		fmt.Fprintf(stderr, "hearthctl: %v\n", err)
		return exitFindings
	case errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command"): // cobra's own word for it
		fmt.Fprintf(stderr, "hearthctl: %v\nRun 'hearthctl --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "hearthctl: %v\n", err)
		if a.jsonOut {
			_ = writeJSON(stdout, map[string]jsonError{"error": jsonErrorOf(err)})
		}
		return exitError
	}
}

// jsonError is a failed command's error with --json: the API's code and
// holder session when the gateway gave them.
type jsonError struct {
	Code          string `json:"code,omitempty"`
	HolderSession string `json:"holder_session,omitempty"`
	Message       string `json:"message"`
}

func jsonErrorOf(err error) jsonError {
	out := jsonError{Message: err.Error()}
	var ce *messages.CodeError
	if errors.As(err, &ce) {
		out.Code, out.HolderSession = ce.Code.String(), ce.HolderSession
	}
	return out
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "hearthctl",
		Short: "Operate a Hearth cluster",
		Long: `hearthctl operates a Hearth cluster.

Profile commands go through a node's gateway (--gateway, --token): every
change is applied by the profile's owner, fenced like any request. Commands
that list, export or check stored profiles read the database directly
(--db, read-only); prune is the one command that deletes from it.

Exit status: 0 done, 1 failed, 2 bad usage, 3 ran but some items failed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.fromEnv(cmd, "gateway", envGateway, &a.gateway)
			a.fromEnv(cmd, "token", envToken, &a.token)
			a.fromEnv(cmd, "db", envDB, &a.db)
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.gateway, "gateway", "http://127.0.0.1:8080", "a node's gateway URL (env "+envGateway+")")
	pf.StringVar(&a.token, "token", "", "the gateway's bearer token, also required by a node's admin endpoints (env "+envToken+")")
	pf.StringVar(&a.db, "db", "", "the cluster's database URL, for the commands that read the store (env "+envDB+")")
	pf.BoolVar(&a.jsonOut, "json", false, "print the result as JSON, for scripts")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "bound on each gateway call, retries included")
	pf.BoolVar(&a.noProgress, "no-progress", false, "no progress bar (there is none anyway when stderr is not a terminal)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.profileCommand(), a.purchasesCommand(), a.userCommand(), a.nodesCommand(), a.nodeCommand(),
		a.pruneCommand(), a.migrateCommand(), a.exportCommand(), a.importCommand())
	return root
}

// fromEnv sets *dst from the environment when the flag was not given.
func (a *app) fromEnv(cmd *cobra.Command, flag, env string, dst *string) {
	if cmd.Flags().Changed(flag) {
		return
	}
	if v, ok := a.getenv(env); ok {
		*dst = v
	}
}

func (a *app) getenv(name string) (string, bool) {
	for i := len(a.environ) - 1; i >= 0; i-- {
		kv := a.environ[i]
		if len(kv) > len(name) && kv[:len(name)] == name && kv[len(name)] == '=' {
			return kv[len(name)+1:], true
		}
	}
	return "", false
}

// args checks the number of positional arguments as a usage error.
func args(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, got []string) error {
		if len(got) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(got))}
		}
		return nil
	}
}
