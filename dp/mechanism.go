package dp

import (
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/noise"
)

// Mechanism is the distribution of the noise added to aggregates. The zero
// Mechanism is invalid, so that a forgotten setting is an error rather than
// a silent default.
type Mechanism int

const (
	// Laplace noise gives pure ε-DP; its budgets must have δ = 0. Its scale
	// grows with the L1 sensitivity, MaxGroups × linf.
	Laplace Mechanism = iota + 1
	// Gaussian noise gives (ε, δ)-DP and needs δ > 0. Its scale grows with
	// the L2 sensitivity, √MaxGroups × linf, so it suits large MaxGroups.
	Gaussian
)

// String returns "laplace" or "gaussian", the names used in answers and
// accepted by ParseMechanism.
func (m Mechanism) String() string {
	switch m {
	case Laplace:
		return "laplace"
	case Gaussian:
		return "gaussian"
	}
	return fmt.Sprintf("mechanism(%d)", int(m))
}

// ParseMechanism returns the Mechanism named "laplace" or "gaussian", or a
// *ParamError naming "mechanism".
func ParseMechanism(s string) (Mechanism, error) {
	switch s {
	case "laplace":
		return Laplace, nil
	case "gaussian":
		return Gaussian, nil
	}
	return 0, paramErrorf("mechanism", "must be laplace or gaussian, got %q", s)
}

func (m Mechanism) valid() error {
	if m != Laplace && m != Gaussian {
		return paramErrorf("mechanism", "must be laplace or gaussian, got %v", m)
	}
	return nil
}

// CheckBudget reports whether m can spend b: b is valid, δ = 0 for Laplace
// and δ > 0 for Gaussian. The error is a *ParamError.
func (m Mechanism) CheckBudget(b Budget) error {
	if err := m.valid(); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return err
	}
	if m == Laplace && b.Delta != 0 {
		return paramErrorf("delta", "must be 0 for laplace noise, got %v", b.Delta)
	}
	if m == Gaussian && b.Delta == 0 {
		return paramErrorf("delta", "must be > 0 for gaussian noise, got 0")
	}
	return nil
}

// library returns the library's noise for m; m must be valid.
func (m Mechanism) library() noise.Noise {
	if m == Gaussian {
		return noise.Gaussian()
	}
	return noise.Laplace()
}

// Bounds are the contribution bounds the planner enforced in SQL before
// calling this package. They are the sensitivities the noise is scaled to:
// if the data handed over breaks them, the DP guarantee is void.
type Bounds struct {
	// MaxGroups is l0: the number of groups one privacy unit may contribute
	// to in one query. Required, >= 1.
	MaxGroups int64
	// MaxRows is the number of rows one privacy unit may contribute to one
	// group. Required, >= 1. It is linf for COUNT(*) and multiplies the
	// value range for SUM, AVG and the other value aggregates.
	MaxRows int64
}

// maxSensitivity keeps MaxGroups × MaxRows × a value range well inside
// int64, where the library computes L1 sensitivities (the quantile tree
// multiplies MaxGroups by 4 more).
const maxSensitivity = 1 << 60

// minEpsilon is the smallest ε an aggregate accepts: the library needs at
// least 2^-50 for each part, and Variance splits ε in three.
const minEpsilon = 0x1p-48

// Validate reports whether both bounds are >= 1 and their product is
// below 2^60. The error is a *ParamError naming "max groups" or "max rows".
func (b Bounds) Validate() error {
	if b.MaxGroups < 1 {
		return paramErrorf("max groups", "must be >= 1, got %d", b.MaxGroups)
	}
	if b.MaxRows < 1 {
		return paramErrorf("max rows", "must be >= 1, got %d", b.MaxRows)
	}
	if _, ok := mulInt64(b.MaxGroups, b.MaxRows); !ok {
		return paramErrorf("max rows", "times max groups must be < 2^60, got %d × %d",
			b.MaxRows, b.MaxGroups)
	}
	return nil
}

// mulInt64 returns a × b for a, b >= 1 and whether it stays below
// maxSensitivity.
func mulInt64(a, b int64) (int64, bool) {
	if a > maxSensitivity/b {
		return 0, false
	}
	return a * b, true
}

// Source is where noise comes from. The only Sources for production use are
// the library's, which a Noiser uses when its Noise field is nil: they draw
// from crypto/rand and resist the floating-point attack on naive Laplace
// sampling. The other Source is dptest.NoNoise, for tests only.
//
// A Source is set in code, never from configuration or a request.
type Source interface {
	noise.Noise
}

// Estimate is a released noisy aggregate with its confidence interval.
type Estimate struct {
	// Value is the noisy aggregate, after any post-processing the function
	// documents (such as counts never below 0).
	Value float64
	// Low and High bound the confidence interval, at the level the Noiser
	// was configured with (95% by default). How the interval is computed,
	// and whether it is exact, conservative or trivial, is documented by
	// the function that returned the Estimate.
	Low, High float64
	// Mechanism is "laplace" or "gaussian".
	Mechanism string
}

// defaultConfidence is the level of confidence intervals when
// Noiser.Confidence is 0.
const defaultConfidence = 0.95

// Noiser adds noise to exact bounded aggregates and attaches confidence
// intervals. A Noiser holds no state: its methods are safe for concurrent
// use as long as its fields are not changed.
type Noiser struct {
	// Mechanism is the noise distribution. Required.
	Mechanism Mechanism
	// Confidence is the level of the confidence intervals, in (0, 1).
	// Zero means 0.95.
	Confidence float64
	// Noise is the source of noise. Nil, the default, means the library's
	// secure noise for Mechanism; leave it nil outside tests. Tests of
	// other packages that compare answers with SQL set dptest.NoNoise().
	// Validation of budgets and bounds is the same whatever the Source.
	Noise Source
}

// NewNoiser returns a Noiser with library noise and 95% intervals, or a
// *ParamError if m is not Laplace or Gaussian.
func NewNoiser(m Mechanism) (Noiser, error) {
	if err := m.valid(); err != nil {
		return Noiser{}, err
	}
	return Noiser{Mechanism: m}, nil
}

// call is one validated request for noise: where it comes from and the
// interval's alpha (1 − confidence).
type call struct {
	src      noise.Noise
	alpha    float64
	mech     string
	gaussian bool
}

// prepare validates the Noiser's fields, the budget for its mechanism and
// the bounds, and returns what the aggregate functions need.
func (n Noiser) prepare(b Budget, bd Bounds) (call, error) {
	if err := n.Mechanism.CheckBudget(b); err != nil {
		return call{}, err
	}
	if b.Epsilon < minEpsilon {
		return call{}, paramErrorf("epsilon", "must be at least 2^-48 for noise, got %v", b.Epsilon)
	}
	if err := bd.Validate(); err != nil {
		return call{}, err
	}
	conf := n.Confidence
	if conf == 0 {
		conf = defaultConfidence
	}
	if !(conf > 0 && conf < 1) {
		return call{}, paramErrorf("confidence", "must be > 0 and < 1, got %v", n.Confidence)
	}

	var src noise.Noise = n.Noise
	if n.Noise == nil {
		src = n.Mechanism.library()
	}
	return call{
		src:      src,
		alpha:    1 - conf,
		mech:     n.Mechanism.String(),
		gaussian: n.Mechanism == Gaussian,
	}, nil
}

// checkRange reports whether [lo, hi] is a usable clamping range: both
// finite and lo < hi.
func checkRange(lo, hi float64) error {
	if math.IsNaN(lo) || math.IsInf(lo, 0) {
		return paramErrorf("lo", "must be finite, got %v", lo)
	}
	if math.IsNaN(hi) || math.IsInf(hi, 0) {
		return paramErrorf("hi", "must be finite, got %v", hi)
	}
	if !(lo < hi) {
		return paramErrorf("lo", "must be < hi, got lo=%v hi=%v", lo, hi)
	}
	return nil
}
