package federated

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Confidence is the level of the intervals in a Result.
const Confidence = 0.95

// Result is a released round: the noisy totals over all roster partners,
// with intervals, and the signed submissions they came from. It holds no
// partner's own values: only the sums of all partners' submissions.
type Result struct {
	// RoundID, RoundHash and Period identify the round.
	RoundID   string `json:"round_id"`
	RoundHash string `json:"round_hash"`
	Period    string `json:"period"`
	// Partners is the number of partners summed: always the roster size.
	Partners int `json:"partners"`
	// Epsilon and Delta are the round's budget, spent on the whole
	// statistic.
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
	// Sigmas is the σ of the noise in each aggregate's cells, in the
	// aggregate's unit (see Round.Sigmas).
	Sigmas []float64 `json:"sigmas"`
	// Confidence is the level of the cells' intervals, 0.95.
	Confidence float64 `json:"confidence"`
	// Cells holds one entry per cell, in the round's cell order.
	Cells []Cell `json:"cells"`
	// ReleasedAt is when the coordinator computed the result.
	ReleasedAt time.Time `json:"released_at"`
	// Transcript holds every partner's signed submission, in the order
	// received; anyone holding the Round can check each with Verify and
	// recompute the sums.
	Transcript []Submission `json:"transcript,omitempty"`
}

// Cell is one released cell.
type Cell struct {
	// Keys are the cell's group keys, one per entry of Statistic.Groups.
	Keys []string `json:"keys"`
	// Aggregate is the index of the cell's aggregate in
	// Statistic.Aggregates.
	Aggregate int `json:"aggregate"`
	// Value is the noisy total over all partners, in the aggregate's unit
	// (rows, people, or the summed column's unit). It is not
	// post-processed: a count may come out negative or fractional.
	// Zero when Suppressed.
	Value float64 `json:"value"`
	// Low and High bound the interval Value ± z·σ, with z the normal
	// quantile for Confidence. It holds the exact total with probability
	// Confidence when every partner added its noise share. Zero when
	// Suppressed.
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// Contributors is the exact number of partners that reported at least
	// one privacy unit in the cell. It is released for every cell, without
	// noise; see the package doc.
	Contributors int `json:"contributors"`
	// Suppressed reports that fewer than MinPartners partners contributed:
	// the cell's value is withheld.
	Suppressed bool `json:"suppressed"`
}

// aggregate sums the submissions of every roster partner and builds the
// result. subs must hold exactly one verified submission per partner. It
// returns an error matching ErrInconsistent if a sum cannot come from
// honest partners holding the roster's keys.
func aggregate(rec Record, subs []Submission, now time.Time) (*Result, error) {
	r := rec.Round
	n := len(r.Roster)
	cells := r.Cells()
	if err := checkComplete(r, subs); err != nil {
		return nil, err
	}

	// Sum mod 2^64: the pairwise masks cancel.
	sum := make([]uint64, cells)
	count := make([]uint64, cells)
	for _, s := range subs {
		for i := range sum {
			sum[i] += s.Values[i]
			count[i] += s.Contributors[i]
		}
	}

	sh := r.shares()
	sigmas := r.sigmas()
	z := math.Sqrt2 * math.Erfinv(Confidence)
	out := make([]Cell, cells)
	for i := range out {
		keys, a := r.Cell(i)
		c := Cell{Keys: keys, Aggregate: a, Contributors: int(min(count[i], uint64(n+1)))}

		// Honest totals are at most n × MaxExact plus noise far below
		// 64σ; anything else means unmatched masks or a garbage vector.
		total := int64(sum[i])
		limit := float64(n)*MaxExact*fine + 64*sh.total(a)
		if count[i] > uint64(n) || math.Abs(float64(total)) > limit {
			return nil, fmt.Errorf("round %q: cell %d out of range after unmasking: %w", r.ID, i,
				ErrInconsistent)
		}

		if c.Contributors < r.MinPartners {
			c.Suppressed = true
		} else {
			c.Value = float64(total) / fine / r.Statistic.unit(a)
			c.Low = c.Value - z*sigmas[a]
			c.High = c.Value + z*sigmas[a]
		}
		out[i] = c
	}

	return &Result{
		RoundID:    r.ID,
		RoundHash:  rec.Hash,
		Period:     r.Period,
		Partners:   n,
		Epsilon:    r.Epsilon,
		Delta:      r.Delta,
		Sigmas:     sigmas,
		Confidence: Confidence,
		Cells:      out,
		ReleasedAt: now,
	}, nil
}

// checkComplete reports whether subs hold one submission of the right
// shape from each roster partner of r. The coordinator's checks make it
// so; this guards against a Store returning something else.
func checkComplete(r Round, subs []Submission) error {
	if len(subs) != len(r.Roster) {
		return fmt.Errorf("round %q: store holds %d submissions for %d partners", r.ID, len(subs),
			len(r.Roster))
	}
	seen := make(map[string]bool, len(subs))
	for _, s := range subs {
		in := slices.ContainsFunc(r.Roster, func(p Partner) bool { return p.Name == s.Partner })
		if !in || seen[s.Partner] || len(s.Values) != r.Cells() ||
			len(s.Contributors) != r.Cells() {
			return fmt.Errorf("round %q: store holds an unexpected submission from %q", r.ID,
				s.Partner)
		}
		seen[s.Partner] = true
	}
	return nil
}

// clone returns a deep copy of res; nil for nil.
func (res *Result) clone() *Result {
	if res == nil {
		return nil
	}
	c := *res
	c.Sigmas = slices.Clone(res.Sigmas)
	c.Cells = slices.Clone(res.Cells)
	for i := range c.Cells {
		c.Cells[i].Keys = slices.Clone(c.Cells[i].Keys)
	}
	c.Transcript = make([]Submission, len(res.Transcript))
	for i, s := range res.Transcript {
		c.Transcript[i] = s.clone()
	}
	if res.Transcript == nil {
		c.Transcript = nil
	}
	return &c
}
