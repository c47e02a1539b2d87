package dp_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"haze/dp"
	"haze/dp/dptest"
)

// column is a bounded numeric column of one group, as the planner would
// aggregate it in SQL.
type column struct {
	rng    dp.Range
	values []float64 // already clamped to rng and at its scale
}

// moments returns what SQL would compute: count, fixed-point sum and sum
// of squares.
func (c column) moments() dp.Moments {
	m := dp.Moments{Count: int64(len(c.values)), SumSquares: new(big.Int)}
	for _, v := range c.values {
		x := int64(math.Round(v * math.Pow10(c.rng.Scale)))
		m.Sum += x
		m.SumSquares.Add(m.SumSquares, new(big.Int).Mul(big.NewInt(x), big.NewInt(x)))
	}
	return m
}

func (c column) mean() float64 {
	var s float64
	for _, v := range c.values {
		s += v
	}
	return s / float64(len(c.values))
}

func (c column) variance() float64 {
	mu := c.mean()
	var s float64
	for _, v := range c.values {
		s += (v - mu) * (v - mu)
	}
	return s / float64(len(c.values))
}

// randomColumn draws n values uniformly from r at r's scale; the
// generator is seeded so the data set is the same on every run.
func randomColumn(seed uint64, n int, r dp.Range) column {
	rnd := rand.New(rand.NewPCG(seed, 1))
	lo := int64(math.Round(r.Lo * math.Pow10(r.Scale)))
	hi := int64(math.Round(r.Hi * math.Pow10(r.Scale)))
	c := column{rng: r, values: make([]float64, n)}
	for i := range c.values {
		c.values[i] = float64(lo+rnd.Int64N(hi-lo+1)) / math.Pow10(r.Scale)
	}
	return c
}

// TestNoNoiseExact checks that, without noise, every aggregate returns the
// exact value with a zero-width interval. It exercises the fixed-point and
// normalisation arithmetic of Sum, Mean, Variance and StdDev.
func TestNoNoiseExact(t *testing.T) {
	columns := []struct {
		name string
		col  column
	}{
		{"fares in cents", randomColumn(1, 500, dp.Range{Lo: 0, Hi: 5000, Scale: 2})},
		{"negative and positive", randomColumn(2, 300, dp.Range{Lo: -250.5, Hi: 1000.25, Scale: 2})},
		{"whole miles, far from zero", randomColumn(3, 1000, dp.Range{Lo: 1_000_000, Hi: 1_000_500})},
		{"all negative", randomColumn(4, 50, dp.Range{Lo: -10, Hi: -1, Scale: 1})},
		{"one row", randomColumn(5, 1, dp.Range{Lo: 0, Hi: 10})},
	}
	budgets := []struct {
		name  string
		mech  dp.Mechanism
		share dp.Budget
	}{
		{"laplace", dp.Laplace, dp.Budget{Epsilon: 0.5}},
		{"gaussian", dp.Gaussian, dp.Budget{Epsilon: 0.5, Delta: 1e-6}},
	}
	bd := dp.Bounds{MaxGroups: 3, MaxRows: 2}

	for _, b := range budgets {
		n := dp.Noiser{Mechanism: b.mech, Noise: dptest.NoNoise()}
		for _, c := range columns {
			t.Run(b.name+"/"+c.name, func(t *testing.T) {
				m := c.col.moments()
				checks := []struct {
					agg  string
					want float64
					call func() (dp.Estimate, error)
				}{
					{"count", float64(m.Count),
						func() (dp.Estimate, error) { return n.Count(m.Count, b.share, bd) }},
					{"people", 17, func() (dp.Estimate, error) { return n.People(17, b.share, bd) }},
					{"sum", c.col.mean() * float64(m.Count),
						func() (dp.Estimate, error) { return n.Sum(m.Sum, c.col.rng, b.share, bd) }},
					{"mean", c.col.mean(),
						func() (dp.Estimate, error) { return n.Mean(m, c.col.rng, b.share, bd) }},
					{"variance", c.col.variance(),
						func() (dp.Estimate, error) { return n.Variance(m, c.col.rng, b.share, bd) }},
					{"stddev", math.Sqrt(c.col.variance()),
						func() (dp.Estimate, error) { return n.StdDev(m, c.col.rng, b.share, bd) }},
				}
				for _, ch := range checks {
					est, err := ch.call()
					if err != nil {
						t.Fatalf("%s: %v", ch.agg, err)
					}
					tol := 1e-9 * math.Max(1, math.Abs(ch.want))
					if ch.agg == "stddev" || ch.agg == "variance" {
						// Variances of values near a million lose digits
						// in the float reference, not in dp.
						tol = 1e-6 * math.Max(1, math.Abs(ch.want))
					}
					if !near(est.Value, ch.want, tol) {
						t.Errorf("%s: got %v, want %v", ch.agg, est.Value, ch.want)
					}
					if !near(est.Low, est.Value, tol) || !near(est.High, est.Value, tol) {
						t.Errorf("%s: got interval [%v, %v], want zero width at %v",
							ch.agg, est.Low, est.High, est.Value)
					}
					if est.Mechanism != b.mech.String() {
						t.Errorf("%s: got mechanism %q, want %q", ch.agg, est.Mechanism, b.mech)
					}
				}
			})
		}
	}
}

// TestEmptyGroup checks the post-processing of a group with no rows, as
// public groups produce: counts of 0 and a mean inside the range.
func TestEmptyGroup(t *testing.T) {
	n := dp.Noiser{Mechanism: dp.Laplace}
	r := dp.Range{Lo: 10, Hi: 20}
	b := dp.Budget{Epsilon: 0.1}
	bd := dp.Bounds{MaxGroups: 1, MaxRows: 1}
	for range 200 {
		c, err := n.Count(0, b, bd)
		if err != nil {
			t.Fatal(err)
		}
		if c.Value < 0 || c.Low < 0 || c.High < c.Low {
			t.Fatalf("count of empty group: got %+v, want value and interval >= 0", c)
		}
		s, err := n.Sum(0, r, b, bd)
		if err != nil {
			t.Fatal(err)
		}
		if s.Value < 0 || s.Low < 0 {
			t.Fatalf("sum over a positive range: got %+v, want value and interval >= 0", s)
		}
		m, err := n.Mean(dp.Moments{}, r, b, bd)
		if err != nil {
			t.Fatal(err)
		}
		if m.Value < r.Lo || m.Value > r.Hi || m.Low < r.Lo || m.High > r.Hi || m.Low > m.High {
			t.Fatalf("mean of empty group: got %+v, want inside [%v, %v]", m, r.Lo, r.Hi)
		}
		v, err := n.Variance(dp.Moments{SumSquares: new(big.Int)}, r, b, bd)
		if err != nil {
			t.Fatal(err)
		}
		if v.Value < 0 || v.Value > 25 || v.Low < 0 || v.High > 25 || v.Low > v.High {
			t.Fatalf("variance of empty group: got %+v, want inside [0, 25]", v)
		}
	}
}
