// Command haze-beam runs haze's pipeline job specs and DP reports on
// Apache Beam: prism in process by default, or a portable Flink or Spark
// runner, or Dataflow. It is a separate binary so that haze itself does
// not carry Beam.
//
// This package only parses flags, builds configurations and calls the
// packages that do the work (pipeline/beamjob, queries/beamreport).
// Beam's own flags (--endpoint, --environment_type, --project, ...) come
// after "--".
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/spf13/cobra"

	// Runners a user may name with --runner.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/spark"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
)

// EnvDataDir names the environment variable that sets --data-dir's default.
const EnvDataDir = "HAZE_DATA_DIR"

func main() {
	// A runner starts this binary as a Beam worker with Beam's flags only:
	// the harness takes over and never returns to the command line.
	if workerMode(os.Args[1:]) {
		flag.Parse()
		beam.Init()
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "haze-beam",
		Short:         "haze job specs and DP reports on Apache Beam",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(pipelineCommand(), reportCommand())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "haze-beam:", err)
		os.Exit(1)
	}
}

func workerMode(args []string) bool {
	for _, a := range args {
		if a == "--worker" || strings.HasPrefix(a, "--worker=") || a == "-worker" {
			return true
		}
	}
	return false
}

// initBeam parses Beam's own flags, the arguments after "--", and
// initialises the SDK.
func initBeam(args []string) error {
	if err := flag.CommandLine.Parse(args); err != nil {
		return fmt.Errorf("beam flags: %w", err)
	}
	if rest := flag.CommandLine.Args(); len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q (beam flags go after --)", rest)
	}
	// Prism and the SDK log through slog at this level: warnings only.
	beamlog.LogLevel = "warn"
	beam.Init()
	return nil
}

// defaultDataDir returns $HAZE_DATA_DIR, or "data".
func defaultDataDir() string {
	if d := os.Getenv(EnvDataDir); d != "" {
		return d
	}
	return "data"
}

// newLogger returns the logger of one-shot commands: warnings and errors
// on stderr (the summary goes to stdout).
func newLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
