package federated

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"haze/dp"
)

// Limits of a round, checked by Round.Validate.
const (
	// MinRoster is the smallest roster and the smallest MinPartners.
	MinRoster = 3
	// MaxRoster is the largest roster. The protocol suits stable alliances
	// of 3 to 50 partners; each partner's work grows with the roster.
	MaxRoster = 100
	// MaxCells is the largest number of cells (groups × aggregates).
	MaxCells = 1_000_000
	// MaxExact is the largest magnitude of one partner's exact value in one
	// cell, in fixed-point units (about 4.4e12). With at most MaxRoster
	// partners, the total and its noise stay far inside the 64-bit ring.
	MaxExact = 1 << 42
)

// Kinds of aggregate a Statistic may hold.
const (
	// KindCount is COUNT(*): rows in the group. One privacy unit adds at
	// most MaxContributionsPerGroup to it.
	KindCount = "count"
	// KindSum is SUM(column) with each row's value clamped to [Lo, Hi]
	// and kept in fixed point with Statistic.Scale decimal places. One
	// privacy unit adds at most MaxContributionsPerGroup × max(|Lo|, |Hi|).
	KindSum = "sum"
	// KindPeople is COUNT(DISTINCT privacy unit): one unit adds at most 1.
	KindPeople = "people"
)

// Round is the public description of one federated aggregation: who takes
// part, what they aggregate, with which privacy budget and until when. All
// partners and the coordinator must hold the same Round; its Hash is bound
// into every submission.
type Round struct {
	// ID names the round; required, 1 to 128 characters from letters,
	// digits, '.', '_', ':' and '-'. A re-run after an abort needs a new ID.
	ID string `json:"id"`
	// Period is the time span aggregated, such as "2026-11"; required, 1 to
	// 64 printable characters.
	Period string `json:"period"`
	// Roster lists the partners, MinRoster to MaxRoster of them, with
	// unique names and keys. Its order is part of the round.
	Roster []Partner `json:"roster"`
	// MinPartners is the fewest partners that must contribute to a cell
	// for its value to be released; required, MinRoster to len(Roster).
	MinPartners int `json:"min_partners"`
	// Epsilon and Delta are the round's privacy budget (ε, δ) for the whole
	// statistic, all cells together: ε ≥ 2^-48 and finite, 0 < δ < 1.
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
	// Statistic is what every partner aggregates.
	Statistic Statistic `json:"statistic"`
	// Deadline is when the round closes; required. A round without every
	// partner's submission by then is aborted.
	Deadline time.Time `json:"deadline"`
}

// Statistic is a set of aggregates over public groups: every cell of the
// product of the Groups' keys, for every aggregate, so that all partners'
// vectors have the same cells in the same order (see Round.Cell).
type Statistic struct {
	// Dataset names the data each partner aggregates, such as "bookings";
	// required, 1 to 256 printable characters.
	Dataset string `json:"dataset"`
	// Aggregates are computed in every group; 1 to 16 distinct ones.
	Aggregates []Aggregate `json:"aggregates"`
	// Groups are the grouping columns with their public keys. The groups
	// are the product of the key lists; no entry means one overall group.
	Groups []GroupKeys `json:"groups"`
	// MaxGroupsContributed is l0: the most groups one privacy unit may
	// contribute to, enforced by each partner before aggregating;
	// required, >= 1.
	MaxGroupsContributed int64 `json:"max_groups_contributed"`
	// MaxContributionsPerGroup is the most rows one privacy unit may
	// contribute to one group; required, >= 1.
	MaxContributionsPerGroup int64 `json:"max_contributions_per_group"`
	// Scale is the number of decimal places kept in sums, 0 to dp.MaxScale:
	// a sum's exact values are in units of 10^-Scale of its column. Counts
	// are always whole numbers.
	Scale int `json:"scale"`
}

// Aggregate is one aggregate of a Statistic.
type Aggregate struct {
	// Kind is KindCount, KindSum or KindPeople.
	Kind string `json:"kind"`
	// Column is the summed column; required for sums, empty otherwise.
	Column string `json:"column,omitempty"`
	// Lo and Hi clamp each row's value of a sum; multiples of 10^-Scale
	// with Lo < Hi, as for dp.Range. Both zero for counts.
	Lo float64 `json:"lo,omitempty"`
	Hi float64 `json:"hi,omitempty"`
}

// GroupKeys is a grouping column and its public keys.
type GroupKeys struct {
	// Column names the grouping column; required and unique in Groups.
	Column string `json:"column"`
	// Keys are the column's public values, such as destinations; at least
	// one, distinct, valid UTF-8 of at most 256 bytes each.
	Keys []string `json:"keys"`
}

// Validate reports whether r can be run: see the field docs. It also
// checks that the noise fits the 64-bit ring (ε not so small that σ would
// exceed 2^40 fixed-point units) and that each partner's share of the
// noise is at least 1/256 of a fixed-point unit (ε not so large that the
// share's rounding matters). The error is a *ParamError naming the
// parameter by its JSON path.
func (r Round) Validate() error {
	if err := checkID("id", r.ID); err != nil {
		return err
	}
	if err := checkText("period", r.Period, 64); err != nil {
		return err
	}
	if err := checkRoster(r.Roster); err != nil {
		return err
	}
	if r.MinPartners < MinRoster || r.MinPartners > len(r.Roster) {
		return paramErrorf("min_partners", "must be between %d and the roster size %d, got %d",
			MinRoster, len(r.Roster), r.MinPartners)
	}
	if err := checkBudget(r.Epsilon, r.Delta); err != nil {
		return err
	}
	if r.Deadline.IsZero() {
		return paramErrorf("deadline", "is required")
	}
	if err := r.Statistic.validate(); err != nil {
		return err
	}
	return r.checkNoise()
}

// Cells returns the number of cells of r: the number of groups times the
// number of aggregates. For a round that does not validate it may be above
// MaxCells; it saturates at math.MaxInt.
func (r Round) Cells() int {
	return r.Statistic.groups() * len(r.Statistic.Aggregates)
}

// groups returns the number of groups, saturating at math.MaxInt.
func (s Statistic) groups() int {
	n := 1
	for _, g := range s.Groups {
		k := len(g.Keys)
		if k != 0 && n > math.MaxInt/k {
			return math.MaxInt
		}
		n *= k
	}
	return n
}

// Cell returns the group keys and the aggregate index of cell i. Cells are
// laid out group by group, the aggregates of a group next to each other:
// i = g × len(Aggregates) + a, where the group index g runs over the
// product of the Groups' keys with the last column varying fastest, like
// nested loops in Groups order. Cell panics if i is not in [0, Cells()).
func (r Round) Cell(i int) (keys []string, aggregate int) {
	if i < 0 || i >= r.Cells() {
		panic(fmt.Sprintf("federated: cell %d out of range [0, %d)", i, r.Cells()))
	}
	a := len(r.Statistic.Aggregates)
	g := i / a
	keys = make([]string, len(r.Statistic.Groups))
	for c := len(r.Statistic.Groups) - 1; c >= 0; c-- {
		k := r.Statistic.Groups[c].Keys
		keys[c] = k[g%len(k)]
		g /= len(k)
	}
	return keys, i % a
}

// CellIndex returns the index of the cell of the given aggregate index and
// group keys, one key per entry of Groups, in order: the inverse of Cell.
// It searches the key lists linearly; callers filling large vectors should
// walk the cells in order with Cell instead. The error matches
// ErrMalformed.
func (r Round) CellIndex(aggregate int, keys ...string) (int, error) {
	st := r.Statistic
	if aggregate < 0 || aggregate >= len(st.Aggregates) {
		return 0, fmt.Errorf("aggregate %d out of range: %w", aggregate, ErrMalformed)
	}
	if len(keys) != len(st.Groups) {
		return 0, fmt.Errorf("%d group keys given, want %d: %w", len(keys), len(st.Groups),
			ErrMalformed)
	}
	g := 0
	for c, key := range keys {
		k := indexOf(st.Groups[c].Keys, key)
		if k < 0 {
			return 0, fmt.Errorf("key %q is not a key of group column %q: %w", key,
				st.Groups[c].Column, ErrMalformed)
		}
		g = g*len(st.Groups[c].Keys) + k
	}
	return g*len(st.Aggregates) + aggregate, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// ToFixed converts per-cell exact values in their natural units (rows,
// people, or the summed column's unit) to the fixed-point integers Prepare
// takes: sums are multiplied by 10^Scale and rounded to the nearest
// integer, counts are rounded. The error matches ErrMalformed for a wrong
// length or a value that is not finite or exceeds MaxExact once scaled.
func (r Round) ToFixed(values []float64) ([]int64, error) {
	if len(values) != r.Cells() {
		return nil, fmt.Errorf("%d values given, want %d cells: %w", len(values), r.Cells(),
			ErrMalformed)
	}
	out := make([]int64, len(values))
	aggs := len(r.Statistic.Aggregates)
	for i, v := range values {
		x := math.Round(v * r.Statistic.unit(i%aggs))
		if !(math.Abs(x) <= MaxExact) {
			return nil, fmt.Errorf("value of cell %d not finite or above %d fixed-point units: %w",
				i, int64(MaxExact), ErrMalformed)
		}
		out[i] = int64(x)
	}
	return out, nil
}

// unit returns the number of fixed-point units in one unit of aggregate
// a: 10^Scale for sums, 1 for counts.
func (s Statistic) unit(a int) float64 {
	if s.Aggregates[a].Kind == KindSum {
		return math.Pow10(s.Scale)
	}
	return 1
}

// validate checks a statistic; parameters are named under "statistic.".
func (s Statistic) validate() error {
	if err := checkText("statistic.dataset", s.Dataset, 256); err != nil {
		return err
	}
	if s.Scale < 0 || s.Scale > dp.MaxScale {
		return paramErrorf("statistic.scale", "must be between 0 and %d, got %d", dp.MaxScale,
			s.Scale)
	}
	if err := s.validateAggregates(); err != nil {
		return err
	}
	if err := s.validateGroups(); err != nil {
		return err
	}

	bounds := dp.Bounds{MaxGroups: s.MaxGroupsContributed, MaxRows: s.MaxContributionsPerGroup}
	if err := bounds.Validate(); err != nil {
		return fromDP("statistic.", err)
	}

	if n := s.groups(); n > MaxCells/len(s.Aggregates) {
		return paramErrorf("statistic.groups", "must make at most %d cells (groups × aggregates)",
			MaxCells)
	}
	return nil
}

func (s Statistic) validateAggregates() error {
	if len(s.Aggregates) == 0 || len(s.Aggregates) > 16 {
		return paramErrorf("statistic.aggregates", "must hold 1 to 16 aggregates, got %d",
			len(s.Aggregates))
	}
	for i, a := range s.Aggregates {
		path := fmt.Sprintf("statistic.aggregates[%d]", i)
		switch a.Kind {
		case KindSum:
			if err := checkText(path+".column", a.Column, 256); err != nil {
				return err
			}
			r := dp.Range{Lo: a.Lo, Hi: a.Hi, Scale: s.Scale}
			if err := r.Validate(); err != nil {
				return fromDP(path+".", err)
			}
		case KindCount, KindPeople:
			if a.Column != "" || a.Lo != 0 || a.Hi != 0 {
				return paramErrorf(path, "of kind %s must have no column, lo or hi", a.Kind)
			}
		default:
			return paramErrorf(path+".kind", "must be count, sum or people, got %q", a.Kind)
		}
		for j := range i {
			if s.Aggregates[j] == a {
				return paramErrorf(path, "duplicates statistic.aggregates[%d]", j)
			}
		}
	}
	return nil
}

func (s Statistic) validateGroups() error {
	columns := make(map[string]bool, len(s.Groups))
	for i, g := range s.Groups {
		path := fmt.Sprintf("statistic.groups[%d]", i)
		if err := checkText(path+".column", g.Column, 256); err != nil {
			return err
		}
		if columns[g.Column] {
			return paramErrorf(path+".column", "duplicates an earlier group column")
		}
		columns[g.Column] = true

		if len(g.Keys) == 0 || len(g.Keys) > MaxCells {
			return paramErrorf(path+".keys", "must hold 1 to %d keys, got %d", MaxCells,
				len(g.Keys))
		}
		keys := make(map[string]bool, len(g.Keys))
		for j, k := range g.Keys {
			if len(k) > 256 || !utf8.ValidString(k) {
				return paramErrorf(fmt.Sprintf("%s.keys[%d]", path, j),
					"must be valid UTF-8 of at most 256 bytes")
			}
			if keys[k] {
				return paramErrorf(fmt.Sprintf("%s.keys[%d]", path, j), "duplicates an earlier key")
			}
			keys[k] = true
		}
	}
	return nil
}

// checkRoster checks the roster's size, names and keys.
func checkRoster(roster []Partner) error {
	if len(roster) < MinRoster || len(roster) > MaxRoster {
		return paramErrorf("roster", "must list %d to %d partners, got %d", MinRoster, MaxRoster,
			len(roster))
	}
	seen := make(map[string]int, 3*len(roster))
	for i, p := range roster {
		path := fmt.Sprintf("roster[%d]", i)
		if err := checkName(path+".name", p.Name); err != nil {
			return err
		}
		if len(p.SignKey) != ed25519.PublicKeySize {
			return paramErrorf(path+".sign_key", "must be %d bytes, got %d",
				ed25519.PublicKeySize, len(p.SignKey))
		}
		if _, err := ecdh.X25519().NewPublicKey(p.DHKey); err != nil {
			return paramErrorf(path+".dh_key", "must be a 32-byte X25519 public key, got %d bytes",
				len(p.DHKey))
		}
		for _, f := range [...]struct{ field, value string }{
			{".name", "n" + p.Name},
			{".sign_key", "s" + string(p.SignKey)},
			{".dh_key", "d" + string(p.DHKey)},
		} {
			if j, dup := seen[f.value]; dup {
				return paramErrorf(path+f.field, "duplicates roster[%d]", j)
			}
			seen[f.value] = i
		}
	}
	return nil
}

// checkBudget checks ε and δ for Gaussian noise with dp's rules.
func checkBudget(epsilon, delta float64) error {
	if err := dp.Gaussian.CheckBudget(dp.Budget{Epsilon: epsilon, Delta: delta}); err != nil {
		return fromDP("", err)
	}
	if epsilon < 0x1p-48 {
		return paramErrorf("epsilon", "must be at least 2^-48, got %v", epsilon)
	}
	return nil
}

// fromDP renames a *dp.ParamError after this package's JSON paths, under
// prefix. Other errors are returned unchanged.
func fromDP(prefix string, err error) error {
	var pe *dp.ParamError
	if !errors.As(err, &pe) {
		return err
	}
	name := map[string]string{
		"max groups": "max_groups_contributed",
		"max rows":   "max_contributions_per_group",
	}[pe.Param]
	if name == "" {
		name = pe.Param
	}
	rest := pe.Error()[len(pe.Param):]
	return &ParamError{Param: prefix + name, msg: prefix + name + rest}
}

// checkName checks a partner name: 1 to 64 characters from letters,
// digits, '.', '_' and '-', starting with a letter or digit.
func checkName(param, s string) error {
	if !validToken(s, 64, "._-") {
		return paramErrorf(param, "must be 1 to 64 letters, digits, '.', '_' or '-', "+
			"starting with a letter or digit, got %q", s)
	}
	return nil
}

// checkID checks a round id: like a name, up to 128 characters, and ':'
// allowed.
func checkID(param, s string) error {
	if !validToken(s, 128, "._:-") {
		return paramErrorf(param, "must be 1 to 128 letters, digits, '.', '_', ':' or '-', "+
			"starting with a letter or digit, got %q", s)
	}
	return nil
}

func validToken(s string, max int, punct string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !containsByte(punct, c)) {
			return false
		}
	}
	return true
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// checkText checks free text: 1 to max bytes of valid UTF-8 without
// control characters.
func checkText(param, s string, max int) error {
	if len(s) == 0 || len(s) > max || !utf8.ValidString(s) {
		return paramErrorf(param, "must be 1 to %d bytes of UTF-8", max)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return paramErrorf(param, "must not hold control characters")
		}
	}
	return nil
}
