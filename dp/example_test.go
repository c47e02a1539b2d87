package dp_test

import (
	"fmt"

	"haze/dp"
)

// A query counts bookings per route. The planner has limited every
// passenger to 2 routes and 3 bookings per route, and gives the count its
// share of the query's budget.
func ExampleNoiser_Count() {
	n, err := dp.NewNoiser(dp.Laplace)
	if err != nil {
		fmt.Println(err)
		return
	}
	share := dp.Budget{Epsilon: 0.5}
	bounds := dp.Bounds{MaxGroups: 2, MaxRows: 3}

	est, err := n.Count(1234, share, bounds)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The value is noisy, different on every run; the interval holds the
	// exact count 95% of the time.
	fmt.Println(est.Mechanism, est.Low <= est.Value && est.Value <= est.High)

	// A bad budget is an error naming the parameter.
	_, err = n.Count(1234, dp.Budget{Epsilon: -1}, bounds)
	fmt.Println(err)
	// Output:
	// laplace true
	// epsilon must be > 0 and finite, got -1
}

// A query groups passengers by home city, which comes from the data, so the
// cities shown must be selected privately. PlanBudget gives selection its
// share; the Selector then decides city by city from the number of distinct
// passengers.
func ExampleSelector() {
	total := dp.Budget{Epsilon: 1, Delta: 1e-5}
	_, selection, err := dp.PlanBudget(total, dp.Laplace, 1, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := dp.NewSelector(selection, 1)
	if err != nil {
		fmt.Println(err)
		return
	}

	fmt.Println("one passenger kept with probability", s.KeepProbability(1))
	fmt.Println("1,000 passengers kept:", s.Keep(1000))

	_, err = dp.NewSelector(dp.Budget{Epsilon: 1}, 1)
	fmt.Println(err)
	// Output:
	// one passenger kept with probability 1e-05
	// 1,000 passengers kept: true
	// delta must be > 0: partition selection needs delta > 0, got 0
}

// Splitting a query's budget: two aggregates over private groups.
func ExamplePlanBudget() {
	total := dp.Budget{Epsilon: 0.9, Delta: 1e-5}
	per, selection, err := dp.PlanBudget(total, dp.Laplace, 2, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("each aggregate ε=%.1f δ=%g; selection ε=%.1f δ=%g\n",
		per.Epsilon, per.Delta, selection.Epsilon, selection.Delta)
	// Output:
	// each aggregate ε=0.3 δ=0; selection ε=0.3 δ=1e-05
}
