// Command haze is privacy-preserving analytics for travel CRM data: it
// generates synthetic exports, runs pseudonymisation jobs, and answers
// questions with differential privacy.
//
// This package only parses flags, builds configurations and calls the
// packages that do the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"haze/store"
)

// EnvDataDir names the environment variable that sets --data-dir's default.
const EnvDataDir = "HAZE_DATA_DIR"

// errSilent marks an error whose explanation was already printed.
var errSilent = errors.New("")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := rootCommand().ExecuteContext(ctx); err != nil {
		if err.Error() != "" {
			fmt.Fprintln(os.Stderr, "haze:", err)
		}
		os.Exit(1)
	}
}

// catalogFlag is --catalog of the command that runs; see catalogURL.
var catalogFlag string

// addCatalogFlag adds --catalog to a command that opens the catalog. Its
// default is not shown in the help, as $HAZE_CATALOG may hold a password.
func addCatalogFlag(fs *pflag.FlagSet) {
	fs.StringVar(&catalogFlag, "catalog", "", "catalog shared by API replicas, a postgres:// URL "+
		"($"+store.EnvCatalog+"); empty: the embedded catalog in --data-dir")
}

// catalogURL returns --catalog, else $HAZE_CATALOG; "" is the embedded
// catalog.
func catalogURL() string {
	if catalogFlag != "" {
		return catalogFlag
	}
	return os.Getenv(store.EnvCatalog)
}

// rootCommand builds the haze command and its subcommands.
func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "haze",
		Short:         "Privacy-preserving analytics for airline CRM data",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(genCommand(), keyringCommand(), pipelineCommand(), queryCommand(),
		budgetCommand(), serveCommand(), federatedCommand(), riskCommand(), subjectCommand(),
		keysCommand(), auditCommand(), reidentifyCommand(), datasetCmd())
	return root
}

// defaultDataDir returns $HAZE_DATA_DIR, or "data".
func defaultDataDir() string {
	if d := os.Getenv(EnvDataDir); d != "" {
		return d
	}
	return "data"
}

// interactive reports whether stderr is a terminal outside CI, where
// progress bars and text logs belong.
func interactive() bool {
	return term.IsTerminal(int(os.Stderr.Fd())) && os.Getenv("CI") == ""
}

// newServerLogger returns the server's operations logger: JSON lines, or
// text on a terminal, at info level.
func newServerLogger() *slog.Logger {
	if interactive() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, nil))
}

// newLogger returns the logger of one-shot commands: warnings and errors
// only (their summary goes to stdout), text on a terminal, JSON otherwise.
func newLogger() *slog.Logger {
	if interactive() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
