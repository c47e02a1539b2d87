package queries

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"haze/dp"
	"haze/store"
)

// Codes of the refusals the engine adds to Parse's.
const (
	// CodeBadOption: an option of the request is out of range, such as
	// ε ≤ 0, ε above the per-query cap, or bounds looser than the dataset's.
	CodeBadOption = "bad_option"
	// CodeBudgetExhausted: the query's cost does not fit what the analyst,
	// or all analysts together, may still spend on the dataset.
	CodeBudgetExhausted = "budget_exhausted"
	// CodeNoGrant: the analyst holds no budget on the dataset.
	CodeNoGrant = "no_grant"
)

// Options are an analyst's choices for one query. The zero value of each
// optional field is its default.
type Options struct {
	// Epsilon is the ε the query spends. Required: > 0 and at most the
	// engine's per-query cap.
	Epsilon float64 `json:"epsilon"`
	// Delta is the δ the query spends. Defaults to 0 for Laplace queries
	// over public groups (they need none) and to the engine's default δ
	// for queries that select groups privately or use Gaussian noise.
	Delta float64 `json:"delta,omitempty"`
	// Mechanism is "laplace" (the default) or "gaussian".
	Mechanism string `json:"mechanism,omitempty"`
	// MaxGroupsContributed bounds the groups one person contributes to.
	// Defaults to the dataset's; may not exceed it.
	MaxGroupsContributed int64 `json:"max_groups_contributed,omitempty"`
	// MaxContributionsPerGroup bounds the rows one person contributes to a
	// group. Defaults to the dataset's; may not exceed it.
	MaxContributionsPerGroup int64 `json:"max_contributions_per_group,omitempty"`
	// Bounds gives public bounds [lo, hi] for numeric columns, replacing
	// the catalog's for this query.
	Bounds map[string][2]float64 `json:"bounds,omitempty"`
	// PublicGroups lists the group keys to answer, per GROUP BY column.
	// When given (for every group column), exactly the combinations of the
	// listed keys are answered, empty ones included, and no ε is spent on
	// choosing groups. Otherwise groups are chosen with DP partition
	// selection, so groups of few people never appear.
	PublicGroups map[string][]string `json:"public_groups,omitempty"`
}

// Limits are the engine's rules for every query.
type Limits struct {
	// MaxEpsilon is the largest ε one query may spend. Defaults to 1.
	MaxEpsilon float64
	// MaxDelta is the largest δ one query may spend. Defaults to 1e-4.
	MaxDelta float64
	// DefaultDelta is the δ of queries that need one and give none.
	// Defaults to 1e-6.
	DefaultDelta float64
}

func (l *Limits) defaults() {
	if l.MaxEpsilon == 0 {
		l.MaxEpsilon = 1
	}
	if l.MaxDelta == 0 {
		l.MaxDelta = 1e-4
	}
	if l.DefaultDelta == 0 {
		l.DefaultDelta = 1e-6
	}
}

// settings are the validated options of one query.
type settings struct {
	mech   dp.Mechanism
	total  dp.Budget
	bounds dp.Bounds
	// public holds, per group column in GROUP BY order, the listed keys;
	// nil when groups are selected privately.
	public [][]string
}

// resolve checks the options against the limits, the dataset and the
// query, and fills in defaults.
func resolve(o Options, l Limits, v store.Version, q *Query) (*settings, error) {
	s := &settings{}
	var err error
	mech := o.Mechanism
	if mech == "" {
		mech = "laplace"
	}
	if s.mech, err = dp.ParseMechanism(mech); err != nil {
		return nil, refuse(CodeBadOption, "mechanism must be laplace or gaussian, got %q", o.Mechanism)
	}

	switch e := o.Epsilon; {
	case math.IsNaN(e) || e <= 0 || math.IsInf(e, 0):
		return nil, refuse(CodeBadOption, "epsilon must be > 0 and ≤ %g", l.MaxEpsilon)
	case e > l.MaxEpsilon:
		return nil, refuse(CodeBadOption, "epsilon %g is above the per-query cap of %g", e, l.MaxEpsilon)
	}
	if d := o.Delta; math.IsNaN(d) || d < 0 || d > l.MaxDelta {
		return nil, refuse(CodeBadOption, "delta must be ≥ 0 and ≤ %g", l.MaxDelta)
	}

	// Groups: public when listed for every group column.
	if len(o.PublicGroups) > 0 {
		if s.public, err = publicKeys(o.PublicGroups, q); err != nil {
			return nil, err
		}
	}
	selects := len(q.Groups) > 0 && s.public == nil
	needsDelta := selects || s.mech == dp.Gaussian
	delta := o.Delta
	switch {
	case needsDelta && delta == 0:
		delta = l.DefaultDelta
	case !needsDelta && delta != 0:
		return nil, refuse(CodeBadOption,
			"this query needs no delta: it uses Laplace noise over public or no groups")
	}
	s.total = dp.Budget{Epsilon: o.Epsilon, Delta: delta}

	// Contribution bounds: the dataset's, or tighter.
	s.bounds = dp.Bounds{MaxGroups: v.DP.MaxGroupsContributed, MaxRows: v.DP.MaxContributionsPerGroup}
	if g := o.MaxGroupsContributed; g != 0 {
		if g < 1 || g > s.bounds.MaxGroups {
			return nil, refuse(CodeBadOption, "max_groups_contributed must be 1 to %d (the dataset's)",
				s.bounds.MaxGroups)
		}
		s.bounds.MaxGroups = g
	}
	if r := o.MaxContributionsPerGroup; r != 0 {
		if r < 1 || r > s.bounds.MaxRows {
			return nil, refuse(CodeBadOption,
				"max_contributions_per_group must be 1 to %d (the dataset's)", s.bounds.MaxRows)
		}
		s.bounds.MaxRows = r
	}
	if len(q.Groups) == 0 {
		s.bounds.MaxGroups = 1 // one group: the whole dataset
	}
	return s, nil
}

// publicKeys orders the listed keys by GROUP BY column.
func publicKeys(listed map[string][]string, q *Query) ([][]string, error) {
	if len(q.Groups) == 0 {
		return nil, refuse(CodeBadOption, "public_groups given for a query without GROUP BY")
	}
	var out [][]string
	combos := 1
	for _, g := range q.Groups {
		keys, ok := lookupFold(listed, g.Column)
		if !ok {
			return nil, refuse(CodeBadOption,
				"public_groups must list keys for every GROUP BY column; %s has none", g.Column)
		}
		if len(keys) == 0 {
			return nil, refuse(CodeBadOption, "public_groups lists no key for %s", g.Column)
		}
		keys = slices.Clone(keys)
		slices.Sort(keys)
		keys = slices.Compact(keys)
		combos *= len(keys)
		if combos > 10_000 {
			return nil, refuse(CodeBadOption, "public_groups make more than 10000 groups")
		}
		out = append(out, keys)
	}
	for name := range listed {
		if !slices.ContainsFunc(q.Groups, func(g GroupKey) bool { return strings.EqualFold(g.Column, name) }) {
			return nil, refuse(CodeBadOption, "public_groups names %s, which is not a GROUP BY column", name)
		}
	}
	return out, nil
}

func lookupFold[V any](m map[string]V, key string) (V, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// tableOf describes a dataset version to the checker, with the query's
// bounds in place of the catalog's.
func tableOf(v store.Version, bounds map[string][2]float64) (Table, error) {
	t := Table{Name: v.Dataset, PrivacyUnit: v.PrivacyUnit, Columns: map[string]Column{}}
	for _, c := range v.Columns {
		col := Column{Name: c.Name, Type: c.Type, Protected: c.Action == "pseudonymize" ||
			c.Action == "encrypt"}
		if len(c.Bounds) == 2 {
			col.Bounds = &[2]float64{c.Bounds[0], c.Bounds[1]}
		}
		if b, ok := lookupFold(bounds, c.Name); ok {
			if math.IsNaN(b[0]) || math.IsNaN(b[1]) || math.IsInf(b[0], 0) || math.IsInf(b[1], 0) ||
				b[0] > b[1] {
				return t, refuse(CodeBadOption, "bounds for %s must be finite with lo ≤ hi", c.Name)
			}
			col.Bounds = &[2]float64{b[0], b[1]}
		}
		t.Columns[strings.ToLower(c.Name)] = col
	}
	for name := range bounds {
		if _, ok := t.Columns[strings.ToLower(name)]; !ok {
			return t, refuse(CodeBadOption, "bounds given for %s, which the dataset does not have", name)
		}
	}
	return t, nil
}

// scaleOf is the fixed-point scale sums of a column use: its decimal
// places, 0 for integers, 2 for floating point.
func scaleOf(typ string) int {
	t := strings.ToUpper(typ)
	if strings.HasPrefix(t, "DECIMAL(") {
		var p, s int
		if _, err := fmt.Sscanf(t, "DECIMAL(%d,%d)", &p, &s); err == nil {
			return s
		}
	}
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
		"UINTEGER", "UBIGINT":
		return 0
	}
	return 2
}
