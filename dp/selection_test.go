package dp_test

import (
	"math"
	"testing"

	"haze/dp"
)

// keepCount returns how many of trials calls to Keep(people) kept the group.
func keepCount(s *dp.Selector, people int64, trials int) int {
	kept := 0
	for range trials {
		if s.Keep(people) {
			kept++
		}
	}
	return kept
}

// TestSelectorRareGroup checks the rare-group bound: a group with a single
// person is kept with probability at most δ/maxGroups. With δ = 1e-5 and
// 100,000 trials at most one keep is expected; more than 10 has
// probability below 1e-7 if the bound holds.
func TestSelectorRareGroup(t *testing.T) {
	const trials = 100_000
	tests := []struct {
		name      string
		budget    dp.Budget
		maxGroups int64
	}{
		{"one group per person", dp.Budget{Epsilon: 1, Delta: 1e-5}, 1},
		{"three groups per person", dp.Budget{Epsilon: 1, Delta: 1e-5}, 3},
		{"gaussian thresholding", dp.Budget{Epsilon: 1, Delta: 1e-5}, 8},
		{"large epsilon", dp.Budget{Epsilon: 10, Delta: 1e-5}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := dp.NewSelector(tt.budget, tt.maxGroups)
			if err != nil {
				t.Fatal(err)
			}
			bound := tt.budget.Delta / float64(tt.maxGroups)
			if p := s.KeepProbability(1); p > bound*(1+1e-9) {
				t.Errorf("KeepProbability(1) = %g, want at most δ/maxGroups = %g", p, bound)
			}
			limit := int(math.Ceil(10 * tt.budget.Delta * trials))
			if got := keepCount(s, 1, trials); got > limit {
				t.Errorf("kept a one-person group %d times in %d, want at most %d", got, trials, limit)
			}
		})
	}
}

// TestSelectorRareGroupExact checks the library's exact guarantee for
// maxGroups <= 3 with a δ large enough to measure: a one-person group is
// kept with probability exactly δ/maxGroups.
func TestSelectorRareGroupExact(t *testing.T) {
	const trials = 100_000
	s, err := dp.NewSelector(dp.Budget{Epsilon: 1, Delta: 0.01}, 2)
	if err != nil {
		t.Fatal(err)
	}
	const p = 0.005
	if got := s.KeepProbability(1); !near(got, p, 1e-12) {
		t.Errorf("KeepProbability(1) = %g, want %g", got, p)
	}
	got := keepCount(s, 1, trials)
	sd := math.Sqrt(trials * p * (1 - p))
	if math.Abs(float64(got)-trials*p) > 5*sd {
		t.Errorf("kept %d of %d, want %.0f ± %.0f", got, trials, trials*p, 5*sd)
	}
}

// TestSelectorLargeGroup checks that a group with 1,000 people is kept
// practically always.
func TestSelectorLargeGroup(t *testing.T) {
	const trials = 100_000
	tests := []struct {
		name      string
		maxGroups int64
		minKept   int
	}{
		{"magic selection keeps surely", 1, trials},
		{"gaussian thresholding", 8, trials - 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := dp.NewSelector(dp.Budget{Epsilon: 1, Delta: 1e-5}, tt.maxGroups)
			if err != nil {
				t.Fatal(err)
			}
			if p := s.KeepProbability(1000); p < 1-1e-9 {
				t.Errorf("KeepProbability(1000) = %g, want about 1", p)
			}
			if got := keepCount(s, 1000, trials); got < tt.minKept {
				t.Errorf("kept a 1,000-person group %d times in %d, want at least %d",
					got, trials, tt.minKept)
			}
		})
	}
}

// TestKeepProbability checks KeepProbability against the library's
// decisions where the probability is far from 0 and 1, and its shape.
func TestKeepProbability(t *testing.T) {
	const trials = 20_000
	tests := []struct {
		name      string
		maxGroups int64
		tol       float64 // on top of five standard errors
	}{
		{"magic selection", 2, 0},
		{"gaussian thresholding (normal approximation)", 5, 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := dp.NewSelector(dp.Budget{Epsilon: 1, Delta: 1e-5}, tt.maxGroups)
			if err != nil {
				t.Fatal(err)
			}

			// Find the smallest group kept at least half the time.
			people := int64(1)
			for s.KeepProbability(people) < 0.5 {
				people++
			}
			p := s.KeepProbability(people)
			got := float64(keepCount(s, people, trials)) / trials
			if limit := 5*math.Sqrt(p*(1-p)/trials) + tt.tol; math.Abs(got-p) > limit {
				t.Errorf("%d people: kept %.4f of the time, KeepProbability says %.4f", people, got, p)
			}

			prev := 0.0
			for n := range int64(200) {
				q := s.KeepProbability(n)
				if q < prev || q > 1 {
					t.Fatalf("KeepProbability(%d) = %g after %g, want non-decreasing in [0, 1]", n, q, prev)
				}
				prev = q
			}
			if s.KeepProbability(0) != 0 || s.Keep(0) || s.Keep(-5) {
				t.Errorf("empty groups must never be kept")
			}
		})
	}
}
