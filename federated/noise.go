package federated

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"
)

// fracBits is the number of binary digits kept below a fixed-point unit
// on the wire: a partner's exact value x is sent as x × 2^fracBits plus
// its noise share rounded to a whole 2^-fracBits, so that rounding the
// shares adds a negligible error however small they are.
const fracBits = 12

// fine is the number of wire units in a fixed-point unit.
const fine = 1 << fracBits

// minShareSigma is the smallest standard deviation of one partner's noise
// share, in wire units: 1/256 of a fixed-point unit.
const minShareSigma = 16

// maxSigma is the largest total σ of a cell, in fixed-point units. With
// MaxExact and MaxRoster it keeps every honest total far inside int64.
const maxSigma = 1 << 40

// Sigmas returns the standard deviation σ of the total Gaussian noise in
// each aggregate's cells, one per aggregate of the statistic, in the
// aggregate's unit (rows, people or the summed column's unit). It is the
// σ of the released values when every roster partner adds its share.
//
// How σ is chosen: one privacy unit changes at most
// l0 = min(MaxGroupsContributed, number of groups) × len(Aggregates)
// cells, and aggregate a of a group by at most
//
//	count:  MaxContributionsPerGroup
//	people: 1
//	sum:    MaxContributionsPerGroup × max(|Lo|, |Hi|)
//
// (its L∞ sensitivity, linf_a). Dividing each cell by its linf_a gives a
// vector of L2 sensitivity √l0, and the library's tight (ε, δ) calibration
// (noise.SigmaForGaussian, after Balle and Wang 2018) gives the σ for it;
// cells of aggregate a get that σ times linf_a. So the whole statistic,
// all cells together, is (ε, δ)-DP, and aggregates of different units
// (counts, sums of fares) each get noise in proportion to their range.
//
// Each of the n roster partners draws its share with the library's
// Gaussian noise for the same (ε, δ) and l0, with linf_a / √n (in wire
// units); σ is √n times that share's σ. Because the library's σ is an
// upper bound of the tight one, and the tight σ is proportional to the
// sensitivity, the n shares together carry at least the noise that (ε, δ)
// needs. The error is a *ParamError if r does not validate.
func (r Round) Sigmas() ([]float64, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r.sigmas(), nil
}

// sigmas is Sigmas for a validated round.
func (r Round) sigmas() []float64 {
	sh := r.shares()
	out := make([]float64, len(sh.linf))
	for a := range out {
		out[a] = sh.total(a) / fine / r.Statistic.unit(a)
	}
	return out
}

// shareNoise is the parameters of one partner's noise share.
type shareNoise struct {
	// l0 is the number of cells one privacy unit may change.
	l0 int64
	// linf is each aggregate's share sensitivity in wire units:
	// linf_a × 2^fracBits / √n.
	linf           []float64
	epsilon, delta float64
	n              int
}

// shares returns the noise parameters of r's partners. r's statistic must
// be valid.
func (r Round) shares() shareNoise {
	st := r.Statistic
	l0 := min(st.MaxGroupsContributed, int64(st.groups())) * int64(len(st.Aggregates))
	n := len(r.Roster)
	linf := make([]float64, len(st.Aggregates))
	for a, agg := range st.Aggregates {
		per := 1.0
		switch agg.Kind {
		case KindCount:
			per = float64(st.MaxContributionsPerGroup)
		case KindSum:
			m := math.Max(math.Abs(agg.Lo), math.Abs(agg.Hi))
			per = float64(st.MaxContributionsPerGroup) * math.Round(m*math.Pow10(st.Scale))
		}
		linf[a] = per * fine / math.Sqrt(float64(n))
	}
	return shareNoise{l0: l0, linf: linf, epsilon: r.Epsilon, delta: r.Delta, n: n}
}

// share returns the σ of one partner's share for aggregate a, in wire
// units: exactly the σ the library's Gaussian noise uses.
func (s shareNoise) share(a int) float64 {
	return noise.SigmaForGaussian(s.l0, s.linf[a], s.epsilon, s.delta)
}

// total returns the σ of the sum of all n shares for aggregate a, in wire
// units.
func (s shareNoise) total(a int) float64 {
	return math.Sqrt(float64(s.n)) * s.share(a)
}

// checkNoise reports whether every aggregate's noise fits: shares of at
// least minShareSigma wire units, totals of at most maxSigma fixed-point
// units. r must otherwise be valid.
func (r Round) checkNoise() error {
	sh := r.shares()
	for a := range sh.linf {
		if sh.share(a) < minShareSigma {
			return paramErrorf("epsilon", "is too large for statistic.aggregates[%d]: each "+
				"partner's noise would be below 1/256 of a fixed-point unit; lower epsilon "+
				"or raise statistic.scale", a)
		}
		if sh.total(a)/fine > maxSigma {
			return paramErrorf("epsilon", "is too small for statistic.aggregates[%d]: noise "+
				"σ would exceed 2^40 fixed-point units; raise epsilon or narrow the bounds", a)
		}
	}
	return nil
}

// NoiseSource draws a partner's noise share. Its method has the signature
// of the library's noise.Noise: it returns x plus Gaussian noise for the
// given sensitivities and (ε, δ). The only NoiseSource for production use
// is the library's noise.Gaussian(), Prepare's default, which draws from
// crypto/rand and resists the floating-point attack on naive sampling.
// A NoiseSource must be safe for concurrent use.
type NoiseSource interface {
	AddNoiseFloat64(x float64, l0Sensitivity int64, lInfSensitivity, epsilon, delta float64) (
		float64, error)
}

// PrepareOption changes how Prepare builds a submission. The options
// exist for tests; none can be set from configuration or a request.
type PrepareOption func(*prepareConfig)

type prepareConfig struct {
	noise NoiseSource // nil means no noise
}

// WithoutNoise makes Prepare add no noise share, so that the released sum
// is exact. It is for tests of the masking only: a submission made with it
// leaves the partner's data without protection from the other partners
// and weakens the whole round's guarantee (see the package doc). It panics
// unless called from a test binary.
func WithoutNoise() PrepareOption {
	if !testing.Testing() {
		panic("federated.WithoutNoise called outside a test binary")
	}
	return func(c *prepareConfig) { c.noise = nil }
}

// WithNoiseSource makes Prepare draw its noise share from src instead of
// the library, such as a deterministic or recording source in tests.
// Prepare calls src from several goroutines, in no particular order of
// cells, so src must be safe for concurrent use. WithNoiseSource panics
// unless called from a test binary.
func WithNoiseSource(src NoiseSource) PrepareOption {
	if !testing.Testing() {
		panic("federated.WithNoiseSource called outside a test binary")
	}
	return func(c *prepareConfig) { c.noise = src }
}

// addNoise adds to each wire value a share of the noise drawn from src,
// rounded to a whole wire unit. The cells are split among GOMAXPROCS
// goroutines, so src must be safe for concurrent use, as the library's
// noise is. r must be valid.
func addNoise(src NoiseSource, r Round, vals []uint64) error {
	sh := r.shares()
	a := len(sh.linf)
	return parallel(len(vals), func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			z, err := src.AddNoiseFloat64(0, sh.l0, sh.linf[i%a], sh.epsilon, sh.delta)
			if err != nil {
				return fmt.Errorf("drawing noise: %w", err)
			}
			if !(math.Abs(z) < 1<<62) {
				return fmt.Errorf("drawing noise: sample out of range")
			}
			vals[i] += uint64(int64(math.Round(z)))
		}
		return nil
	})
}

// parallel calls f on contiguous ranges [lo, hi) that split [0, n) among
// up to GOMAXPROCS goroutines, and returns the first error.
func parallel(n int, f func(lo, hi int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		return f(0, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() { errs[w] = f(w*n/workers, (w+1)*n/workers) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// HonestEpsilon returns the ε that the round still guarantees, at the
// same δ, when only k of its n roster partners add their noise share: the
// others leave it out, or collude and subtract the shares they know. The
// noise protecting the honest partners' units then has variance kσ²/n,
// that of σ·√(k/n), and HonestEpsilon is the smallest ε for which the
// library calibrates a σ no larger than that for the statistic's
// sensitivity. It equals r.Epsilon for k = n, within the library's 0.1%
// accuracy of σ, and grows as k shrinks.
//
// The error is a *ParamError if r does not validate or k is not in
// [1, n], named "k".
func (r Round) HonestEpsilon(k int) (float64, error) {
	if err := r.Validate(); err != nil {
		return 0, err
	}
	n := len(r.Roster)
	if k < 1 || k > n {
		return 0, paramErrorf("k", "must be between 1 and the roster size %d, got %d", n, k)
	}

	// The honest noise per unit of sensitivity, smallest over aggregates.
	sh := r.shares()
	have := math.Inf(1)
	for a := range sh.linf {
		have = math.Min(have, math.Sqrt(float64(k))*sh.share(a)/(sh.linf[a]*math.Sqrt(float64(n))))
	}
	need := func(eps float64) float64 { return noise.SigmaForGaussian(sh.l0, 1, eps, r.Delta) }

	// need falls as ε grows: bracket the answer, then bisect.
	lo, hi := r.Epsilon/2, r.Epsilon
	for need(hi) > have {
		lo, hi = hi, 2*hi
	}
	for need(lo) <= have && lo > 0x1p-48 {
		lo /= 2
	}
	for range 64 {
		mid := lo/2 + hi/2
		if need(mid) > have {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}
