package beamjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	// The local runner, the default.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

// Options configure a Beam run. The zero value of each field is its default.
type Options struct {
	// Runner is the Beam runner's name: prism (the default, in process),
	// or universal, flink, spark, dataflow when the binary registers them;
	// their settings are Beam's own flags.
	Runner string
	// Workers is the number of shards one worker process reads and
	// transforms at once. Defaults to 0: as many as the runner sends.
	Workers int
	// ShardBytes is the size of a CSV or NDJSON shard. Defaults to 64 MiB.
	ShardBytes int64
	// ShardRows is the size of a Parquet shard, in rows (whole row
	// groups). Defaults to 500,000.
	ShardRows int64
	// MemoryLimit is DuckDB's limit per shard reader. Defaults to "256MB".
	MemoryLimit string
	// KeyringPath replaces the spec's keyring, on the launcher and on every
	// worker, when not empty.
	KeyringPath string
	// Logger receives operational logs. Defaults to slog.Default().
	Logger *slog.Logger
	// Now returns the time; defaults to time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Runner == "" {
		o.Runner = "prism"
	}
	if o.ShardBytes <= 0 {
		o.ShardBytes = 64 << 20
	}
	if o.ShardRows <= 0 {
		o.ShardRows = 500_000
	}
	if o.MemoryLimit == "" {
		o.MemoryLimit = "256MB"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Run executes the job spec at specPath on Beam and publishes a new
// version of its dataset in cat, as pipeline.Run does: same manifest,
// same errors (ErrTooManyRejected with a manifest; anything else without),
// nothing published unless every shard finished.
func Run(ctx context.Context, specPath string, cat *store.Catalog,
	opts Options) (*pipeline.Manifest, error) {
	opts.defaults()
	spec, err := pipeline.Load(specPath)
	if err != nil {
		return nil, err
	}
	var ring *anonymize.Keyring
	if opts.KeyringPath != "" {
		if ring, err = anonymize.LoadKeyring(opts.KeyringPath); err != nil {
			return nil, err
		}
	}

	// The run: key, lock, leftovers, erasure list, temporary folder.
	run, err := pipeline.BeginExternal(ctx, spec, cat, pipeline.Options{Keyring: ring,
		Logger: opts.Logger, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	defer run.Close()

	// Shards of whole records, each read on its own.
	plan := run.Plan
	shards, dialect, err := pipeline.Split(ctx, plan.Format, plan.Path, opts.ShardBytes, opts.ShardRows)
	if err != nil {
		return nil, err
	}
	specAbs, err := filepath.Abs(specPath)
	if err != nil {
		return nil, fmt.Errorf("job spec: %w", err)
	}
	keyringAbs := ""
	if opts.KeyringPath != "" {
		if keyringAbs, err = filepath.Abs(opts.KeyringPath); err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
	}
	runDir, err := filepath.Abs(run.Dir)
	if err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}

	p, s := beam.NewPipelineWithRoot()
	col := beam.Reshuffle(s, beam.CreateList(s, shards))
	done := beam.ParDo(s, &processShardFn{SpecPath: specAbs, KeyringPath: keyringAbs,
		Export: plan.Export, StartedUnixNano: run.Started.UnixNano(), Dialect: dialect,
		RunDir: runDir, PolicyHash: spec.PolicyHash(), KeyID: plan.KeyID(), Sealed: run.Sealed,
		MemoryLimit: opts.MemoryLimit, Slots: opts.Workers}, col)
	// The shards' stage must have an output that leaves it: prism
	// busy-waits on bundles of a stage without one, taking a core.
	beam.ParDo0(s, countShard, beam.Reshuffle(s, done))
	opts.Logger.Info("beam job starting", "job", spec.Name, "runner", opts.Runner,
		"shards", len(shards))
	if _, err := beam.Run(ctx, opts.Runner, p); err != nil {
		return nil, fmt.Errorf("running on beam: %w", err)
	}

	// Every shard must have finished; their accounts add up to the run's.
	res, err := collect(run.Dir, len(shards))
	if err != nil {
		return nil, err
	}
	return run.Finish(ctx, res)
}

// collect reads the accounts of n shards and removes the engine's
// bookkeeping from the run folder.
func collect(runDir string, n int) (pipeline.ExternalResult, error) {
	res := pipeline.ExternalResult{Reasons: map[string]int64{}}
	for i := 0; i < n; i++ {
		data, err := os.ReadFile(accountPath(runDir, i))
		if errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("shard %d did not finish", i)
		}
		if err != nil {
			return res, fmt.Errorf("reading shard account: %w", err)
		}
		var a shardAccount
		if err := json.Unmarshal(data, &a); err != nil {
			return res, fmt.Errorf("reading shard account: %w", err)
		}
		res.Files = append(res.Files, a.Data)
		res.Quarantine = append(res.Quarantine, a.Quarantine)
		res.Read += a.Read
		res.Published += a.Published
		res.Erased += a.Erased
		res.NoConsent += a.NoConsent
		res.Quarantined += a.Quarantined
		res.ReaderRejects += a.ReaderRejects
		for r, k := range a.Reasons {
			res.Reasons[r] += k
		}
	}
	for _, d := range []string{accountsDir, ".scratch"} {
		if err := os.RemoveAll(filepath.Join(runDir, d)); err != nil {
			return res, fmt.Errorf("cleaning run folder: %w", err)
		}
	}
	return res, nil
}
