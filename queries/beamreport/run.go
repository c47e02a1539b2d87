package beamreport

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/google/differential-privacy/privacy-on-beam/v3/pbeam"

	// The local runner, the default.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"haze/anonymize"
	"haze/dp"
	"haze/internal/duckstream"
	"haze/pipeline"
	"haze/queries"
	"haze/store"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*row)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*cell)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*readFn)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*pair)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*projectFn)(nil)).Elem())
	beam.RegisterFunction(rowKey)
	beam.RegisterFunction(pairKV)
	beam.RegisterFunction(firstRank)
	beam.RegisterType(reflect.TypeOf((*cellFn)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*writeFn)(nil)).Elem())
}

// Options configure a report run. The zero value of each field is its
// default.
type Options struct {
	// Principal is who asks; the budget charged is theirs. Required.
	Principal string
	// Runner is the Beam runner's name. Defaults to prism.
	Runner string
	// Logger receives operational logs. Defaults to slog.Default().
	Logger *slog.Logger
	// KeyringPath is the keyring file, at the same path on every worker,
	// that opens the dataset's data key. Required for encrypted datasets.
	KeyringPath string
	// Audit, when set, runs inside the transaction that charges the report
	// (or returns it again at no cost), as queries.Request.Audit does.
	Audit func(tx *sql.Tx, a *queries.Answer) error
}

// Run computes the report on Beam and releases it as the query engine
// releases answers: checked, charged in the ledger in the transaction that
// records it, and only then returned. A report already released comes
// back marked Cached, at no cost, without running Beam. Refusals are the
// engine's *queries.Error; a failed run costs nothing.
func Run(ctx context.Context, spec *Spec, cat *store.Catalog, eng *queries.Engine,
	opts Options) (*queries.Answer, error) {
	if opts.Principal == "" {
		return nil, errors.New("principal is required")
	}
	if opts.Runner == "" {
		opts.Runner = "prism"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}

	// The query the report stands for, checked and priced by the engine.
	v, err := cat.Current(ctx, spec.Dataset)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", spec.Dataset, err)
	}
	req := spec.Request(opts.Principal, v.PrivacyUnit)
	req.Audit = opts.Audit
	p, err := eng.Prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	if a, err := eng.Released(ctx, p); err != nil || a != nil {
		return a, err
	}
	if err := eng.Allow(ctx, p); err != nil {
		return nil, err
	}

	// Noise is drawn on Beam; the noisy cells pass through a private
	// folder that is removed whatever happens.
	dir, err := scratchDir(cat.Dir())
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	plan, err := newPlan(p)
	if err != nil {
		return nil, err
	}
	plan.keyringPath = opts.KeyringPath
	pl, err := plan.pipeline(dir)
	if err != nil {
		return nil, err
	}
	opts.Logger.Info("beam report starting", "report", spec.Name, "dataset", v.Dataset,
		"version", v.Version, "runner", opts.Runner)
	if _, err := beam.Run(ctx, opts.Runner, pl); err != nil {
		return nil, fmt.Errorf("running on beam: %w", err)
	}
	groups, err := plan.released(dir)
	if err != nil {
		return nil, err
	}

	// Charged in the transaction that records it, before it leaves.
	return eng.Release(ctx, p, groups)
}

// scratchDir makes a private folder for one run under dataDir/reports and
// removes what killed runs left there.
func scratchDir(dataDir string) (string, error) {
	base := filepath.Join(dataDir, "reports")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", fmt.Errorf("creating report folder: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(base, ".tmp-*"))
	for _, o := range old {
		os.RemoveAll(o)
	}
	dir, err := os.MkdirTemp(base, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("creating report folder: %w", err)
	}
	return dir, nil
}

// aggregate is one select item of the report's query, for pbeam.
type aggregate struct {
	kind   queries.AggKind
	value  int // index of its column in row.Values, -1 for count and people
	lo, hi float64
	p      float64
}

// plan is the report's query laid out for pbeam.
type plan struct {
	p           *queries.Prepared
	keyringPath string
	unit        string
	groups      []string
	values      []string // value columns read
	aggs        []aggregate
}

func newPlan(p *queries.Prepared) (*plan, error) {
	pl := &plan{p: p, unit: p.Version.PrivacyUnit}
	for _, g := range p.Query.Groups {
		pl.groups = append(pl.groups, g.Column)
	}
	for _, it := range p.Query.Select {
		a := it.Agg
		if a == nil {
			continue
		}
		ag := aggregate{kind: a.Kind, value: -1, p: a.P}
		switch a.Kind {
		case queries.AggCount, queries.AggPeople:
		case queries.AggSum, queries.AggAvg, queries.AggQuantile, queries.AggMedian:
			if a.Bounds == nil {
				return nil, fmt.Errorf("column %s has no bounds", a.Column)
			}
			ag.lo, ag.hi = a.Bounds[0], a.Bounds[1]
			ag.value = len(pl.values)
			pl.values = append(pl.values, a.Column)
		default:
			return nil, fmt.Errorf("aggregate %v cannot run on beam", a.Kind)
		}
		pl.aggs = append(pl.aggs, ag)
	}
	return pl, nil
}

// row is one dataset row, without its privacy unit (the key of its KV).
type row struct {
	// Key is the group key: a JSON array of the group columns' values as
	// DuckDB prints them, null for NULL.
	Key string
	// Values holds the value columns, NaN for NULL.
	Values []float64
}

// cell is one released value: aggregate Agg of group Key.
type cell struct {
	Key   string
	Agg   int
	Value float64
}

// pipeline builds the Beam pipeline that writes the noisy cells to dir.
func (pl *plan) pipeline(dir string) (*beam.Pipeline, error) {
	p := pl.p
	n := float64(len(pl.aggs))
	spec, err := pbeam.NewPrivacySpec(pbeam.PrivacySpecParams{
		AggregationEpsilon: p.PerAggregate.Epsilon * n, AggregationDelta: p.PerAggregate.Delta * n,
		PartitionSelectionEpsilon: p.Selection.Epsilon, PartitionSelectionDelta: p.Selection.Delta,
	})
	if err != nil {
		return nil, fmt.Errorf("privacy spec: %w", err)
	}
	var noiseKind pbeam.NoiseKind = pbeam.LaplaceNoise{}
	if p.Mechanism == dp.Gaussian {
		noiseKind = pbeam.GaussianNoise{}
	}
	l0, linf := p.Bounds.MaxGroups, p.Bounds.MaxRows

	beamP, s := beam.NewPipelineWithRoot()
	files := beam.Reshuffle(s, beam.CreateList(s, p.Files))
	rows := beam.ParDo(s, &readFn{Unit: pl.unit, Groups: pl.groups, Values: pl.values,
		KeyringPath: pl.keyringPath, Sealed: pipeline.Seal(p.Version)}, files)
	priv := pbeam.MakePrivate(s, rows, spec)
	keys := pbeam.ParDo(s, rowKey, priv)
	values := func(j int) pbeam.PrivatePCollection {
		return pbeam.ParDo(s, pairKV, pbeam.MakePrivate(s, beam.ParDo(s, &projectFn{Index: j}, rows), spec))
	}

	// One set of groups for every aggregate: public, or selected once.
	var parts beam.PCollection
	if p.Public != nil {
		parts = beam.CreateList(s, publicKeys(p.Public))
	} else if len(pl.groups) == 0 {
		parts = beam.CreateList(s, []string{encodeKey(nil)})
	} else {
		parts = pbeam.SelectPartitions(s, keys, pbeam.PartitionSelectionParams{
			Epsilon: p.Selection.Epsilon, Delta: p.Selection.Delta, MaxPartitionsContributed: l0})
	}

	eps, del := p.PerAggregate.Epsilon, p.PerAggregate.Delta
	var cells []beam.PCollection
	for i, a := range pl.aggs {
		var out beam.PCollection
		switch a.kind {
		case queries.AggCount:
			out = pbeam.Count(s, keys, pbeam.CountParams{NoiseKind: noiseKind,
				AggregationEpsilon: eps, AggregationDelta: del, MaxPartitionsContributed: l0,
				MaxValue: linf, PublicPartitions: parts})
		case queries.AggPeople:
			out = pbeam.DistinctPrivacyID(s, keys, pbeam.DistinctPrivacyIDParams{
				NoiseKind: noiseKind, AggregationEpsilon: eps, AggregationDelta: del,
				MaxPartitionsContributed: l0, PublicPartitions: parts})
		case queries.AggSum:
			out = pbeam.SumPerKey(s, values(a.value), pbeam.SumParams{
				NoiseKind: noiseKind, AggregationEpsilon: eps, AggregationDelta: del,
				MaxPartitionsContributed: l0, MinValue: float64(linf) * math.Min(a.lo, 0),
				MaxValue: float64(linf) * math.Max(a.hi, 0), PublicPartitions: parts})
		case queries.AggAvg:
			out = pbeam.MeanPerKey(s, values(a.value), pbeam.MeanParams{
				NoiseKind: noiseKind, AggregationEpsilon: eps, AggregationDelta: del,
				MaxPartitionsContributed: l0, MaxContributionsPerPartition: linf,
				MinValue: a.lo, MaxValue: a.hi, PublicPartitions: parts})
		default: // quantiles
			qs := pbeam.QuantilesPerKey(s, values(a.value),
				pbeam.QuantilesParams{NoiseKind: noiseKind, AggregationEpsilon: eps,
					AggregationDelta: del, MaxPartitionsContributed: l0,
					MaxContributionsPerPartition: linf, MinValue: a.lo, MaxValue: a.hi,
					Ranks: []float64{a.p}, PublicPartitions: parts})
			out = beam.ParDo(s, firstRank, qs)
		}
		cells = append(cells, beam.ParDo(s, &cellFn{Agg: i}, out))
	}
	all := beam.Flatten(s, cells...)
	beam.ParDo0(s, &writeFn{Dir: dir}, beam.GroupByKey(s, beam.AddFixedKey(s, all)))
	return beamP, nil
}

// released reads the cells the pipeline wrote and attaches intervals.
func (pl *plan) released(dir string) ([]queries.Group, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cells.json"))
	if errors.Is(err, os.ErrNotExist) {
		data = []byte("[]") // no group was released
	} else if err != nil {
		return nil, fmt.Errorf("reading report cells: %w", err)
	}
	var cells []cell
	if err := json.Unmarshal(data, &cells); err != nil {
		return nil, fmt.Errorf("reading report cells: %w", err)
	}
	byKey := map[string]*queries.Group{}
	var order []string
	for _, c := range cells {
		g, ok := byKey[c.Key]
		if !ok {
			keys, err := decodeKey(c.Key)
			if err != nil {
				return nil, err
			}
			g = &queries.Group{Keys: keys, Values: make([]queries.Estimate, len(pl.aggs))}
			byKey[c.Key] = g
			order = append(order, c.Key)
		}
		est, err := pl.interval(c.Agg, c.Value)
		if err != nil {
			return nil, err
		}
		g.Values[c.Agg] = est
	}
	out := make([]queries.Group, len(order))
	for i, k := range order {
		out[i] = *byKey[k]
	}
	return out, nil
}

// interval attaches the 95% interval of aggregate i's noisy value.
func (pl *plan) interval(i int, v float64) (queries.Estimate, error) {
	p, a := pl.p, pl.aggs[i]
	nz := noise.Laplace()
	if p.Mechanism == dp.Gaussian {
		nz = noise.Gaussian()
	}
	eps, del := p.PerAggregate.Epsilon, p.PerAggregate.Delta
	l0, linf := p.Bounds.MaxGroups, p.Bounds.MaxRows
	var ci noise.ConfidenceInterval
	var err error
	switch a.kind {
	case queries.AggCount:
		ci, err = nz.ComputeConfidenceIntervalInt64(int64(v), l0, linf, eps, del, 0.05)
		ci.LowerBound = math.Max(ci.LowerBound, 0)
	case queries.AggPeople:
		ci, err = nz.ComputeConfidenceIntervalInt64(int64(v), l0, 1, eps, del, 0.05)
		ci.LowerBound = math.Max(ci.LowerBound, 0)
	case queries.AggSum:
		lInf := float64(linf) * math.Max(math.Abs(a.lo), math.Abs(a.hi))
		ci, err = nz.ComputeConfidenceIntervalFloat64(v, l0, lInf, eps, del, 0.05)
	default:
		// TODO: sharper intervals for means and quantiles need pbeam's
		// internal noisy count and sum, which it does not expose.
		ci = noise.ConfidenceInterval{LowerBound: a.lo, UpperBound: a.hi}
	}
	if err != nil {
		return queries.Estimate{}, fmt.Errorf("confidence interval: %w", err)
	}
	return queries.Estimate{Value: v, Low: ci.LowerBound, High: ci.UpperBound}, nil
}

// encodeKey encodes group keys as a JSON array, nil entries as null.
func encodeKey(keys []*string) string {
	data, _ := json.Marshal(keys)
	if keys == nil {
		return "[]"
	}
	return string(data)
}

func decodeKey(k string) ([]*string, error) {
	var keys []*string
	if err := json.Unmarshal([]byte(k), &keys); err != nil {
		return nil, fmt.Errorf("reading group key: %w", err)
	}
	return keys, nil
}

// publicKeys returns every combination of the listed keys, encoded.
func publicKeys(public [][]string) []string {
	combos := [][]*string{nil}
	for _, keys := range public {
		var next [][]*string
		for _, c := range combos {
			for _, k := range keys {
				next = append(next, append(append([]*string{}, c...), &k))
			}
		}
		combos = next
	}
	out := make([]string, len(combos))
	for i, c := range combos {
		out[i] = encodeKey(c)
	}
	return out
}

// readFn reads one Parquet file of the dataset into (unit, row) pairs.
type readFn struct {
	Unit   string
	Groups []string
	Values []string
	// KeyringPath and Sealed open the version's data key on the worker.
	KeyringPath string
	Sealed      pipeline.SealedKey
}

func (f *readFn) ProcessElement(ctx context.Context, file string, emit func(string, row)) error {
	var ring *anonymize.Keyring
	if f.KeyringPath != "" {
		var err error
		if ring, err = anonymize.LoadKeyring(f.KeyringPath); err != nil {
			return err
		}
	}
	dk, err := f.Sealed.Open(ring)
	if err != nil {
		return err
	}
	db, err := duckstream.Open(map[string]string{"threads": "1"})
	if err != nil {
		return err
	}
	defer db.Close()
	src, forget, err := dk.Scan(ctx, db.Exec, []string{file})
	if err != nil {
		return err
	}
	defer forget()
	cols := []string{"CAST(" + queries.QuoteIdent(f.Unit) + " AS VARCHAR)"}
	for _, g := range f.Groups {
		cols = append(cols, "CAST("+queries.QuoteIdent(g)+" AS VARCHAR)")
	}
	for _, v := range f.Values {
		cols = append(cols, "CAST("+queries.QuoteIdent(v)+" AS DOUBLE)")
	}
	r, err := db.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+src)
	if err != nil {
		return fmt.Errorf("reading dataset file: %w", pipeline.DecryptError(err))
	}
	defer r.Release()
	keys := make([]*string, len(f.Groups))
	for r.Next() {
		rec := r.RecordBatch()
		unit := rec.Column(0).(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			if unit.IsNull(i) {
				continue
			}
			for j := range f.Groups {
				g := rec.Column(1 + j).(*array.String)
				keys[j] = nil
				if g.IsValid(i) {
					k := strings.Clone(g.Value(i))
					keys[j] = &k
				}
			}
			vals := make([]float64, len(f.Values))
			for j := range f.Values {
				c := rec.Column(1 + len(f.Groups) + j).(*array.Float64)
				vals[j] = math.NaN()
				if c.IsValid(i) {
					vals[j] = c.Value(i)
				}
			}
			emit(strings.Clone(unit.Value(i)), row{Key: encodeKey(keys), Values: vals})
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("reading dataset file: %w", err)
	}
	return nil
}

// rowKey keeps a row's group key.
func rowKey(r row) string { return r.Key }

// pair is a group key and one value.
type pair struct {
	Key   string
	Value float64
}

// projectFn keeps a row's group key and one value column, dropping NULLs
// as SQL aggregates do.
type projectFn struct{ Index int }

func (f *projectFn) ProcessElement(id string, r row, emit func(string, pair)) {
	if v := r.Values[f.Index]; !math.IsNaN(v) {
		emit(id, pair{Key: r.Key, Value: v})
	}
}

func pairKV(p pair) (string, float64) { return p.Key, p.Value }

// cellFn turns aggregate Agg's (key, value) pairs into cells.
type cellFn struct{ Agg int }

func (f *cellFn) ProcessElement(key string, v beam.V) (cell, error) {
	switch x := v.(type) {
	case int64:
		return cell{Key: key, Agg: f.Agg, Value: float64(x)}, nil
	case float64:
		return cell{Key: key, Agg: f.Agg, Value: x}, nil
	default:
		return cell{}, fmt.Errorf("aggregate %d gave a %T", f.Agg, v)
	}
}

func firstRank(key string, qs []float64) (string, float64) { return key, qs[0] }

// writeFn writes all cells to Dir/cells.json (mode 0600).
type writeFn struct{ Dir string }

func (f *writeFn) ProcessElement(_ int, cells func(*cell) bool) error {
	var all []cell
	var c cell
	for cells(&c) {
		all = append(all, c)
	}
	data, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("writing report cells: %w", err)
	}
	tmp := filepath.Join(f.Dir, "cells.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing report cells: %w", err)
	}
	return os.Rename(tmp, filepath.Join(f.Dir, "cells.json"))
}
