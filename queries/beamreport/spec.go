package beamreport

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"haze/pipeline"
	"haze/queries"
	"haze/store"
)

// Aggregate kinds a report may ask for.
const (
	KindCount     = "count"     // rows
	KindPeople    = "people"    // distinct privacy units
	KindSum       = "sum"       // sum of a column
	KindMean      = "mean"      // mean of a column
	KindQuantiles = "quantiles" // quantiles of a column, one per rank
)

// Spec is a report spec: DP aggregates over one dataset, grouped by
// columns. Specs are read from YAML with Load; unknown keys are errors.
type Spec struct {
	// Name identifies the report in logs. Required.
	Name string `yaml:"name"`
	// Dataset is the dataset to report on (its current version). Required.
	Dataset string `yaml:"dataset"`
	// GroupBy lists the group columns; empty gives one overall row.
	GroupBy []string `yaml:"group_by"`
	// PublicGroups lists the keys to report per group column. When given
	// for every group column, exactly those combinations are reported
	// (empty ones included) and no ε goes to choosing groups; otherwise
	// groups are chosen with DP partition selection, so groups of few
	// people are not released.
	PublicGroups map[string][]string `yaml:"public_groups"`
	// Aggregates are the values to report. At least one is required.
	Aggregates []Aggregate `yaml:"aggregates"`
	// Epsilon is the ε the whole report spends. Required.
	Epsilon float64 `yaml:"epsilon"`
	// Delta is the δ it spends; see queries.Options.Delta for the default.
	Delta float64 `yaml:"delta"`
	// Mechanism is laplace (the default) or gaussian.
	Mechanism string `yaml:"mechanism"`
	// MaxGroupsContributed and MaxContributionsPerGroup bound what one
	// person contributes. Default to the dataset's; may not exceed them.
	MaxGroupsContributed     int64 `yaml:"max_groups_contributed"`
	MaxContributionsPerGroup int64 `yaml:"max_contributions_per_group"`
	// Bounds replace the catalog's public bounds [lo, hi] of columns.
	Bounds map[string][2]float64 `yaml:"bounds"`
}

// Aggregate is one reported value.
type Aggregate struct {
	// Kind is count, people, sum, mean or quantiles. Required.
	Kind string `yaml:"kind"`
	// Column is the aggregated column (sum, mean, quantiles).
	Column string `yaml:"column"`
	// Ranks are the quantiles' ranks in (0, 1) (quantiles only).
	Ranks []float64 `yaml:"ranks"`
	// As names the output column; defaults to the kind (and column).
	As string `yaml:"as"`
}

// Load reads and validates a report spec file.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading report spec: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("report spec %s: %w", path, err)
	}
	return s, nil
}

// Parse reads and validates a report spec from YAML.
func Parse(data []byte) (*Spec, error) {
	var s Spec
	if err := pipeline.DecodeYAML(data, &s); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks the spec on its own; errors name the offending key. The
// dataset's columns, bounds and budget are checked by the query engine.
func (s *Spec) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("name is required")
	case len(s.Aggregates) == 0:
		return errors.New("aggregates is required: name at least one")
	}
	if err := store.ValidateDatasetName(s.Dataset); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	for _, g := range s.GroupBy {
		if err := store.ValidateDatasetName(g); err != nil {
			return fmt.Errorf("group_by: column %q: use lower-case letters, digits and '_'", g)
		}
	}
	for col := range s.PublicGroups {
		if !slices.Contains(s.GroupBy, col) {
			return fmt.Errorf("public_groups.%s: not a group_by column", col)
		}
	}
	for i, a := range s.Aggregates {
		if err := a.validate(); err != nil {
			return fmt.Errorf("aggregates[%d]: %w", i, err)
		}
	}
	return nil
}

func (a Aggregate) validate() error {
	switch a.Kind {
	case KindCount, KindPeople:
		if a.Column != "" || a.Ranks != nil {
			return fmt.Errorf("%s takes no column or ranks", a.Kind)
		}
	case KindSum, KindMean, KindQuantiles:
		if err := store.ValidateDatasetName(a.Column); err != nil {
			return fmt.Errorf("%s needs a column: %q is not one", a.Kind, a.Column)
		}
		if (a.Kind == KindQuantiles) != (len(a.Ranks) > 0) {
			return errors.New("ranks are required for quantiles and only for them")
		}
		for _, r := range a.Ranks {
			if !(r > 0 && r < 1) {
				return fmt.Errorf("ranks must be in (0, 1), got %v", r)
			}
		}
	default:
		return fmt.Errorf("kind %q is not one of count, people, sum, mean, quantiles", a.Kind)
	}
	if a.As != "" && store.ValidateDatasetName(a.As) != nil {
		return fmt.Errorf("as %q: use lower-case letters, digits and '_'", a.As)
	}
	return nil
}

// SQL returns the DP SQL query the report computes, over a dataset whose
// privacy unit column is unit. Asking the query engine this query with the
// report's options returns the report's released answer, at no cost.
func (s *Spec) SQL(unit string) string {
	var items []string
	items = append(items, s.GroupBy...)
	for _, a := range s.Aggregates {
		name := func(def string) string {
			if a.As != "" {
				return a.As
			}
			return def
		}
		switch a.Kind {
		case KindCount:
			items = append(items, "COUNT(*) AS "+name("count"))
		case KindPeople:
			items = append(items, "COUNT(DISTINCT "+unit+") AS "+name("people"))
		case KindSum:
			items = append(items, "SUM("+a.Column+") AS "+name("sum_"+a.Column))
		case KindMean:
			items = append(items, "AVG("+a.Column+") AS "+name("mean_"+a.Column))
		case KindQuantiles:
			for _, r := range a.Ranks {
				p := strconv.FormatFloat(r, 'f', -1, 64)
				items = append(items, "quantile_cont("+a.Column+", "+p+") AS "+
					name(a.Column)+"_p"+strings.ReplaceAll(strconv.FormatFloat(math.Round(r*1e6)/1e4, 'f', -1, 64), ".", "_"))
			}
		}
	}
	q := "SELECT " + strings.Join(items, ", ") + " FROM " + s.Dataset
	if len(s.GroupBy) > 0 {
		q += " GROUP BY " + strings.Join(s.GroupBy, ", ")
	}
	return q
}

// Request returns the query engine's request for the report.
func (s *Spec) Request(principal, unit string) queries.Request {
	return queries.Request{Principal: principal, SQL: s.SQL(unit), Options: queries.Options{
		Epsilon: s.Epsilon, Delta: s.Delta, Mechanism: s.Mechanism,
		MaxGroupsContributed:     s.MaxGroupsContributed,
		MaxContributionsPerGroup: s.MaxContributionsPerGroup,
		Bounds:                   s.Bounds, PublicGroups: s.PublicGroups,
	}}
}
