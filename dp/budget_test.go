package dp_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"haze/dp"
)

func TestBudgetValidate(t *testing.T) {
	tests := []struct {
		name    string
		b       dp.Budget
		param   string // "" when valid
		message string
	}{
		{"valid pure", dp.Budget{Epsilon: 1}, "", ""},
		{"valid approximate", dp.Budget{Epsilon: 0.1, Delta: 1e-6}, "", ""},
		{"negative epsilon", dp.Budget{Epsilon: -1}, "epsilon", "epsilon must be > 0 and finite, got -1"},
		{"zero epsilon", dp.Budget{}, "epsilon", "epsilon must be > 0 and finite, got 0"},
		{"infinite epsilon", dp.Budget{Epsilon: math.Inf(1)}, "epsilon", "epsilon must be > 0 and finite, got +Inf"},
		{"NaN epsilon", dp.Budget{Epsilon: math.NaN()}, "epsilon", "epsilon must be > 0 and finite, got NaN"},
		{"negative delta", dp.Budget{Epsilon: 1, Delta: -1e-5}, "delta", "delta must be >= 0 and < 1, got -1e-05"},
		{"delta one", dp.Budget{Epsilon: 1, Delta: 1}, "delta", "delta must be >= 0 and < 1, got 1"},
		{"NaN delta", dp.Budget{Epsilon: 1, Delta: math.NaN()}, "delta", "delta must be >= 0 and < 1, got NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.b.Validate()
			checkParamError(t, err, tt.param, tt.message)
		})
	}
}

// checkParamError asserts that err is nil when param is "", and otherwise
// a *dp.ParamError for param whose message contains message.
func checkParamError(t *testing.T, err error, param, message string) {
	t.Helper()
	if param == "" {
		if err != nil {
			t.Fatalf("got error %q, want none", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got no error, want one naming %q", param)
	}
	var pe *dp.ParamError
	if !errors.As(err, &pe) {
		t.Fatalf("got %T %q, want *dp.ParamError", err, err)
	}
	if pe.Param != param {
		t.Errorf("got param %q, want %q", pe.Param, param)
	}
	if !errors.Is(err, dp.ErrInvalidParam) {
		t.Errorf("errors.Is(%q, ErrInvalidParam) = false, want true", err)
	}
	if !strings.HasPrefix(err.Error(), param+" ") {
		t.Errorf("got message %q, want it to start with %q", err, param)
	}
	if !strings.Contains(err.Error(), message) {
		t.Errorf("got message %q, want it to contain %q", err, message)
	}
}

func TestBudgetAddCovers(t *testing.T) {
	// Ten spends of 0.1 add up to 0.9999999999999999 in float64.
	var spent dp.Budget
	for range 10 {
		spent = spent.Add(dp.Budget{Epsilon: 0.1, Delta: 1e-7})
	}
	if spent.Epsilon == 1 {
		t.Fatalf("float sum is exactly 1; the tolerance is not exercised")
	}

	tests := []struct {
		name string
		have dp.Budget
		want dp.Budget
		ok   bool
	}{
		{"equal", dp.Budget{Epsilon: 1, Delta: 1e-6}, dp.Budget{Epsilon: 1, Delta: 1e-6}, true},
		{"float sum covered by total", dp.Budget{Epsilon: 1, Delta: 1e-6}, spent, true},
		{"total covered by float sum", spent, dp.Budget{Epsilon: 1, Delta: 1e-6}, true},
		{"more epsilon", dp.Budget{Epsilon: 1}, dp.Budget{Epsilon: 1.001}, false},
		{"more delta", dp.Budget{Epsilon: 1, Delta: 1e-6}, dp.Budget{Epsilon: 0.5, Delta: 2e-6}, false},
		{"delta from none", dp.Budget{Epsilon: 1}, dp.Budget{Epsilon: 0.5, Delta: 1e-20}, false},
		{"NaN", dp.Budget{Epsilon: math.NaN()}, dp.Budget{Epsilon: 0.1}, false},
		{"less in both", dp.Budget{Epsilon: 2, Delta: 1e-5}, dp.Budget{Epsilon: 1, Delta: 1e-6}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.have.Covers(tt.want); got != tt.ok {
				t.Errorf("%+v.Covers(%+v) = %v, want %v", tt.have, tt.want, got, tt.ok)
			}
		})
	}
}

func TestBudgetSub(t *testing.T) {
	tests := []struct {
		name      string
		have      dp.Budget
		spend     dp.Budget
		want      dp.Budget
		exhausted bool
		param     string
	}{
		{"part", dp.Budget{Epsilon: 1, Delta: 1e-5}, dp.Budget{Epsilon: 0.25, Delta: 1e-6},
			dp.Budget{Epsilon: 0.75, Delta: 9e-6}, false, ""},
		{"all within tolerance", dp.Budget{Epsilon: 0.9999999999999999}, dp.Budget{Epsilon: 1},
			dp.Budget{}, false, ""},
		{"too much epsilon", dp.Budget{Epsilon: 1}, dp.Budget{Epsilon: 1.5},
			dp.Budget{Epsilon: 1}, true, ""},
		{"too much delta", dp.Budget{Epsilon: 1, Delta: 1e-6}, dp.Budget{Epsilon: 0.1, Delta: 1e-5},
			dp.Budget{Epsilon: 1, Delta: 1e-6}, true, ""},
		{"nothing left", dp.Budget{}, dp.Budget{Epsilon: 0.1}, dp.Budget{}, true, ""},
		{"negative spend refused", dp.Budget{Epsilon: 1}, dp.Budget{Epsilon: -1},
			dp.Budget{Epsilon: 1}, false, "epsilon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.have.Sub(tt.spend)
			if tt.param != "" {
				checkParamError(t, err, tt.param, "")
			} else if tt.exhausted != errors.Is(err, dp.ErrBudgetExhausted) {
				t.Fatalf("got error %v, want exhausted %v", err, tt.exhausted)
			} else if !tt.exhausted && err != nil {
				t.Fatalf("got error %v", err)
			}
			if !near(got.Epsilon, tt.want.Epsilon, 1e-12) || !near(got.Delta, tt.want.Delta, 1e-18) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.Epsilon < 0 || got.Delta < 0 {
				t.Errorf("got negative budget %+v", got)
			}
		})
	}
}

func TestBudgetSplit(t *testing.T) {
	total := dp.Budget{Epsilon: 1, Delta: 1e-5}
	tests := []struct {
		name    string
		weights []float64
		want    []dp.Budget
		param   string
	}{
		{"equal", []float64{1, 1}, []dp.Budget{{Epsilon: 0.5, Delta: 5e-6}, {Epsilon: 0.5, Delta: 5e-6}}, ""},
		{"proportional", []float64{2, 1, 1}, []dp.Budget{
			{Epsilon: 0.5, Delta: 5e-6}, {Epsilon: 0.25, Delta: 2.5e-6}, {Epsilon: 0.25, Delta: 2.5e-6}}, ""},
		{"one", []float64{3}, []dp.Budget{total}, ""},
		{"empty", nil, nil, "weights"},
		{"zero weight", []float64{1, 0}, nil, "weights"},
		{"negative weight", []float64{1, -1}, nil, "weights"},
		{"NaN weight", []float64{math.NaN()}, nil, "weights"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := total.Split(tt.weights...)
			checkParamError(t, err, tt.param, "")
			if tt.param != "" {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d shares, want %d", len(got), len(tt.want))
			}
			var sum dp.Budget
			for i := range got {
				w := tt.want[i]
				if !near(got[i].Epsilon, w.Epsilon, 1e-12) || !near(got[i].Delta, w.Delta, 1e-18) {
					t.Errorf("share %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
				sum = sum.Add(got[i])
			}
			if !total.Covers(sum) {
				t.Errorf("shares add up to %+v, more than %+v", sum, total)
			}
		})
	}

	if _, err := (dp.Budget{Epsilon: -1}).Split(1); err == nil {
		t.Errorf("splitting an invalid budget: got no error")
	}
}

func TestPlanBudget(t *testing.T) {
	total := dp.Budget{Epsilon: 1.2, Delta: 1e-5}
	tests := []struct {
		name       string
		total      dp.Budget
		mech       dp.Mechanism
		aggregates int
		selectG    bool
		per, sel   dp.Budget
		param      string
	}{
		{"laplace with selection", total, dp.Laplace, 2, true,
			dp.Budget{Epsilon: 0.4}, dp.Budget{Epsilon: 0.4, Delta: 1e-5}, ""},
		{"gaussian with selection", total, dp.Gaussian, 2, true,
			dp.Budget{Epsilon: 0.4, Delta: 1e-5 / 3}, dp.Budget{Epsilon: 0.4, Delta: 1e-5 / 3}, ""},
		{"laplace public groups", total, dp.Laplace, 3, false,
			dp.Budget{Epsilon: 0.4}, dp.Budget{}, ""},
		{"laplace public groups pure", dp.Budget{Epsilon: 1}, dp.Laplace, 4, false,
			dp.Budget{Epsilon: 0.25}, dp.Budget{}, ""},
		{"gaussian public groups", total, dp.Gaussian, 4, false,
			dp.Budget{Epsilon: 0.3, Delta: 2.5e-6}, dp.Budget{}, ""},
		{"selection without delta", dp.Budget{Epsilon: 1}, dp.Laplace, 1, true,
			dp.Budget{}, dp.Budget{}, "delta"},
		{"gaussian without delta", dp.Budget{Epsilon: 1}, dp.Gaussian, 1, false,
			dp.Budget{}, dp.Budget{}, "delta"},
		{"no aggregates", total, dp.Laplace, 0, true, dp.Budget{}, dp.Budget{}, "aggregates"},
		{"bad total", dp.Budget{Epsilon: 0}, dp.Laplace, 1, false, dp.Budget{}, dp.Budget{}, "epsilon"},
		{"bad mechanism", total, 0, 1, false, dp.Budget{}, dp.Budget{}, "mechanism"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			per, sel, err := dp.PlanBudget(tt.total, tt.mech, tt.aggregates, tt.selectG)
			checkParamError(t, err, tt.param, "")
			if tt.param != "" {
				return
			}
			if !near(per.Epsilon, tt.per.Epsilon, 1e-12) || !near(per.Delta, tt.per.Delta, 1e-18) {
				t.Errorf("per aggregate: got %+v, want %+v", per, tt.per)
			}
			if !near(sel.Epsilon, tt.sel.Epsilon, 1e-12) || !near(sel.Delta, tt.sel.Delta, 1e-18) {
				t.Errorf("selection: got %+v, want %+v", sel, tt.sel)
			}
			spent := sel
			for range tt.aggregates {
				spent = spent.Add(per)
			}
			if !tt.total.Covers(spent) {
				t.Errorf("plan spends %+v, more than %+v", spent, tt.total)
			}
			if err := tt.mech.CheckBudget(per); err != nil {
				t.Errorf("per-aggregate budget rejected by %v: %v", tt.mech, err)
			}
			if tt.selectG {
				if _, err := dp.NewSelector(sel, 1); err != nil {
					t.Errorf("selection budget rejected: %v", err)
				}
			}
		})
	}
}

func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol
}
