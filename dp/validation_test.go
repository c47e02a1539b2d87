package dp_test

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"haze/dp"
)

// TestAggregateValidation checks that every aggregate refuses bad
// parameters with an error naming the parameter.
func TestAggregateValidation(t *testing.T) {
	pure := dp.Budget{Epsilon: 1}
	approx := dp.Budget{Epsilon: 1, Delta: 1e-6}
	bounds := dp.Bounds{MaxGroups: 2, MaxRows: 3}
	money := dp.Range{Lo: 0, Hi: 100, Scale: 2}
	laplace := dp.Noiser{Mechanism: dp.Laplace}
	gaussian := dp.Noiser{Mechanism: dp.Gaussian}

	tests := []struct {
		name    string
		noiser  dp.Noiser
		budget  dp.Budget
		bounds  dp.Bounds
		rng     dp.Range
		param   string
		message string
	}{
		{"valid laplace", laplace, pure, bounds, money, "", ""},
		{"valid gaussian", gaussian, approx, bounds, money, "", ""},
		{"negative epsilon", laplace, dp.Budget{Epsilon: -1}, bounds, money,
			"epsilon", "epsilon must be > 0 and finite, got -1"},
		{"infinite epsilon", gaussian, dp.Budget{Epsilon: math.Inf(1), Delta: 1e-6}, bounds, money,
			"epsilon", "epsilon must be > 0 and finite, got +Inf"},
		{"delta too large", gaussian, dp.Budget{Epsilon: 1, Delta: 1}, bounds, money,
			"delta", "delta must be >= 0 and < 1, got 1"},
		{"laplace with delta", laplace, approx, bounds, money,
			"delta", "delta must be 0 for laplace noise, got 1e-06"},
		{"gaussian without delta", gaussian, pure, bounds, money,
			"delta", "delta must be > 0 for gaussian noise, got 0"},
		{"no mechanism", dp.Noiser{}, pure, bounds, money,
			"mechanism", "mechanism must be laplace or gaussian, got mechanism(0)"},
		{"zero max groups", laplace, pure, dp.Bounds{MaxGroups: 0, MaxRows: 1}, money,
			"max groups", "max groups must be >= 1, got 0"},
		{"negative max rows", laplace, pure, dp.Bounds{MaxGroups: 1, MaxRows: -2}, money,
			"max rows", "max rows must be >= 1, got -2"},
		{"bounds overflow", laplace, pure, dp.Bounds{MaxGroups: 1 << 40, MaxRows: 1 << 40}, money,
			"max rows", "must be < 2^60"},
		{"confidence one", dp.Noiser{Mechanism: dp.Laplace, Confidence: 1}, pure, bounds, money,
			"confidence", "confidence must be > 0 and < 1, got 1"},
		{"negative confidence", dp.Noiser{Mechanism: dp.Laplace, Confidence: -0.5}, pure, bounds, money,
			"confidence", "got -0.5"},
		{"epsilon below the library's floor", laplace, dp.Budget{Epsilon: 1e-16}, bounds, money,
			"epsilon", "epsilon must be at least 2^-48 for noise, got 1e-16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := dp.Moments{Count: 10, Sum: 5000, SumSquares: big.NewInt(3_000_000)}
			calls := map[string]func() error{
				"count": func() error { _, err := tt.noiser.Count(10, tt.budget, tt.bounds); return err },
				"people": func() error {
					_, err := tt.noiser.People(10, tt.budget, tt.bounds)
					return err
				},
				"sum": func() error { _, err := tt.noiser.Sum(500, tt.rng, tt.budget, tt.bounds); return err },
				"mean": func() error {
					_, err := tt.noiser.Mean(m, tt.rng, tt.budget, tt.bounds)
					return err
				},
				"variance": func() error {
					_, err := tt.noiser.Variance(m, tt.rng, tt.budget, tt.bounds)
					return err
				},
				"stddev": func() error {
					_, err := tt.noiser.StdDev(m, tt.rng, tt.budget, tt.bounds)
					return err
				},
				"quantiles": func() error {
					_, err := tt.noiser.NewQuantiles(tt.budget, tt.bounds, tt.rng.Lo, tt.rng.Hi)
					return err
				},
			}
			for name, call := range calls {
				t.Run(name, func(t *testing.T) {
					checkParamError(t, call(), tt.param, tt.message)
				})
			}
		})
	}
}

func TestRangeValidation(t *testing.T) {
	n := dp.Noiser{Mechanism: dp.Laplace}
	b := dp.Budget{Epsilon: 1}
	bd := dp.Bounds{MaxGroups: 1, MaxRows: 1}
	tests := []struct {
		name    string
		rng     dp.Range
		param   string
		message string
	}{
		{"money", dp.Range{Lo: -10, Hi: 5000.25, Scale: 2}, "", ""},
		{"decimal fractions", dp.Range{Lo: 0.1, Hi: 0.3, Scale: 1}, "", ""},
		{"lo above hi", dp.Range{Lo: 5, Hi: 1}, "lo", "lo must be < hi, got lo=5 hi=1"},
		{"lo equals hi", dp.Range{Lo: 5, Hi: 5}, "lo", "lo must be < hi"},
		{"NaN lo", dp.Range{Lo: math.NaN(), Hi: 1}, "lo", "lo must be finite, got NaN"},
		{"infinite hi", dp.Range{Lo: 0, Hi: math.Inf(1)}, "hi", "hi must be finite, got +Inf"},
		{"negative scale", dp.Range{Lo: 0, Hi: 1, Scale: -1}, "scale", "scale must be between 0 and 9, got -1"},
		{"scale too large", dp.Range{Lo: 0, Hi: 1, Scale: 10}, "scale", "got 10"},
		{"hi finer than scale", dp.Range{Lo: 0, Hi: 0.125, Scale: 2}, "hi",
			"hi must be a multiple of 10^-2, got 0.125"},
		{"lo finer than whole units", dp.Range{Lo: 0.5, Hi: 10}, "lo", "lo must be a multiple of 10^-0"},
		{"hi too large", dp.Range{Lo: 0, Hi: 1e15, Scale: 2}, "hi", "at most 2^53"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParamError(t, tt.rng.Validate(), tt.param, tt.message)
			_, err := n.Sum(0, tt.rng, b, bd)
			checkParamError(t, err, tt.param, tt.message)
		})
	}

	t.Run("sensitivity overflow", func(t *testing.T) {
		_, err := n.Sum(0, dp.Range{Lo: -9e6, Hi: 1, Scale: 9}, b, dp.Bounds{MaxGroups: 1000, MaxRows: 1000})
		checkParamError(t, err, "lo", "sensitivity reaches 2^60")
	})
}

func TestOtherValidation(t *testing.T) {
	n := dp.Noiser{Mechanism: dp.Laplace}
	bd := dp.Bounds{MaxGroups: 1, MaxRows: 1}
	b := dp.Budget{Epsilon: 1}

	tests := []struct {
		name    string
		err     func() error
		param   string
		message string
	}{
		{"selector without delta", func() error { _, err := dp.NewSelector(b, 1); return err },
			"delta", "partition selection needs delta > 0, got 0"},
		{"selector bad epsilon", func() error {
			_, err := dp.NewSelector(dp.Budget{Epsilon: 0, Delta: 1e-5}, 1)
			return err
		}, "epsilon", "epsilon must be > 0 and finite, got 0"},
		{"selector zero groups", func() error {
			_, err := dp.NewSelector(dp.Budget{Epsilon: 1, Delta: 1e-5}, 0)
			return err
		}, "max groups", "max groups must be >= 1, got 0"},
		{"quantiles lo above hi", func() error { _, err := n.NewQuantiles(b, bd, 10, 0); return err },
			"lo", "lo must be < hi, got lo=10 hi=0"},
		{"quantiles rank above one", func() error {
			q, err := n.NewQuantiles(b, bd, 0, 10)
			if err != nil {
				return err
			}
			_, err = q.Result(1.5)
			return err
		}, "rank", "rank must be >= 0 and <= 1, got 1.5"},
		{"quantiles no rank", func() error {
			q, err := n.NewQuantiles(b, bd, 0, 10)
			if err != nil {
				return err
			}
			_, err = q.Result()
			return err
		}, "rank", "rank must be given"},
		{"parse mechanism", func() error { _, err := dp.ParseMechanism("geometric"); return err },
			"mechanism", `mechanism must be laplace or gaussian, got "geometric"`},
		{"new noiser", func() error { _, err := dp.NewNoiser(7); return err },
			"mechanism", "got mechanism(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParamError(t, tt.err(), tt.param, tt.message)
		})
	}
}

// TestBadExactInputs checks that impossible exact inputs are errors that
// are not parameter errors and do not show the value.
func TestBadExactInputs(t *testing.T) {
	n := dp.Noiser{Mechanism: dp.Laplace}
	b := dp.Budget{Epsilon: 1}
	bd := dp.Bounds{MaxGroups: 1, MaxRows: 1}
	r := dp.Range{Lo: 0, Hi: 10}
	tests := []struct {
		name string
		err  func() error
	}{
		{"negative count", func() error { _, err := n.Count(-12345, b, bd); return err }},
		{"negative people", func() error { _, err := n.People(-12345, b, bd); return err }},
		{"negative mean count", func() error {
			_, err := n.Mean(dp.Moments{Count: -12345}, r, b, bd)
			return err
		}},
		{"missing sum of squares", func() error {
			_, err := n.Variance(dp.Moments{Count: 12345, Sum: 12345}, r, b, bd)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil {
				t.Fatal("got no error")
			}
			var pe *dp.ParamError
			if errors.As(err, &pe) {
				t.Errorf("got *ParamError %q, want a plain error", err)
			}
			if strings.Contains(err.Error(), "12345") {
				t.Errorf("error %q shows the exact input", err)
			}
		})
	}
}
