// Command ringdesk runs the Ringdesk call-center CRM and its admin tasks.
// It only wires the parts together; the logic lives in the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `ringdesk: a call-center CRM with its own SIP front door.

Usage:
  ringdesk <command> [flags]

Commands:
  serve     run Ringdesk: web server with /healthz and /metrics
  migrate   apply pending database migrations and exit
  seed      load deterministic demo data (customers, demo users, a queue)
  import    import customers from a CSV file
  user      manage users: add, list, passwd, sip, disable, enable, token
  desk      a terminal agent desk: logs an agent in and prints screen-pops
  config    print the effective configuration (file, env, flags applied)
  help      show this help, or a command's help: ringdesk help <command>

Every command reads the same configuration: the file given by --config (or
RINGDESK_CONFIG), then RINGDESK_* environment variables, then flags. See
configs/ringdesk.example.yaml for every key. Run "ringdesk <command> --help"
for a command's flags.
`

// command is one subcommand: its one-line purpose, a usage line, and Run.
type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what a command may touch: its streams and the environment.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {"run Ringdesk", "ringdesk serve [flags]", runServe},
		"migrate": {"apply pending migrations", "ringdesk migrate [flags]", runMigrate},
		"seed":    {"load demo data", "ringdesk seed [--customers N] [--demo-users] [flags]", runSeed},
		"import":  {"import customers from CSV", "ringdesk import FILE.csv [--map 'Header=field' ...] [flags]", runImport},
		"desk":    {"a terminal agent desk: log in and print screen-pops", "ringdesk desk AGENT [--ready=true] [--url URL]", runDesk},
		"config":  {"print the effective configuration", "ringdesk config [--key KEY] [flags]", runConfig},
		"user":    {"manage users", "ringdesk user add|list|passwd|disable|enable [flags]", runUser},
	}
}

// errUsage marks an error already explained by printed usage.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(ctx, env, os.Args[1:]))
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if _, ok := commands()[args[1]]; ok {
				return run(ctx, env, []string{args[1], "--help"})
			}
		}
		fmt.Fprint(env.stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "ringdesk: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(env.stderr, "ringdesk %s: %v\n", args[0], userMessage(err))
		return 1
	}
}

// newFlagSet returns a flag set that prints the command's usage and flags.
func newFlagSet(env *cliEnv, name string) *flag.FlagSet {
	cmd := commands()[name]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "%s: %s\n\nUsage:\n  %s\n\nFlags:\n", name, cmd.summary, cmd.usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and loads the configuration named by them.
func parseFlags(env *cliEnv, fs *flag.FlagSet, args []string) (Config, error) {
	cfgFlags := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, errUsage
	}
	path, set := cfgFlags()
	if path == "" {
		path = env.getenv("RINGDESK_CONFIG")
	}
	return LoadConfig(path, env.getenv, set)
}
