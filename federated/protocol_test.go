package federated

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestMasksCancel(t *testing.T) {
	tests := []struct {
		name        string
		partners    int
		pContribute float64
	}{
		{"3 partners all contribute", 3, 1},
		{"5 partners all contribute", 5, 1},
		{"5 partners some contribute", 5, 0.7},
		{"12 partners some contribute", 12, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tt.partners), 7))
			ids := identities(t, tt.partners)
			r := newRound(ids, "r1", fareStatistic(25))
			exact, contributes := randomInputs(rng, r, tt.partners, tt.pContribute)
			// Every partner has one refund in the first group: its fare
			// total (cell 1) is negative.
			for p := range exact {
				exact[p][0], exact[p][1] = 1, -12345
				contributes[p][0], contributes[p][1] = true, true
			}
			subs := prepareAll(t, ids, r, exact, contributes, WithoutNoise())

			res := release(t, r, subs)

			totals, counts := exactTotals(r, exact, contributes)
			if got, want := len(res.Cells), r.Cells(); got != want {
				t.Fatalf("got %d cells, want %d", got, want)
			}
			for i, c := range res.Cells {
				if c.Contributors != counts[i] {
					t.Errorf("cell %d: got %d contributors, want %d", i, c.Contributors, counts[i])
				}
				if got, want := c.Suppressed, counts[i] < r.MinPartners; got != want {
					t.Errorf("cell %d: got suppressed %v, want %v", i, got, want)
				}
				if c.Suppressed {
					continue
				}
				if c.Value != totals[i] {
					t.Errorf("cell %d: got value %v, want %v", i, c.Value, totals[i])
				}
			}
			if got, want := res.Cells[1].Value, -123.45*float64(tt.partners); math.Abs(got-want) > 1e-9 {
				t.Errorf("cell 1: got %v, want %v", got, want)
			}
		})
	}
}

func TestStoredVectorsLookRandom(t *testing.T) {
	const partners = 5
	rng := rand.New(rand.NewPCG(1, 2))
	ids := identities(t, partners)
	r := newRound(ids, "r1", fareStatistic(1250)) // 10,000 cells
	exact, contributes := randomInputs(rng, r, partners, 0.8)
	subs := prepareAll(t, ids, r, exact, contributes, WithoutNoise())
	cells := r.Cells()

	// The unmasked vectors: what each partner would send without masks.
	plain := make([][]uint64, partners)
	for p := range plain {
		plain[p], _, _ = encode(r, exact[p], contributes[p])
	}

	t.Run("no stored value equals the partner's own", func(t *testing.T) {
		equal := 0
		for p, s := range subs {
			for i := range cells {
				if s.Values[i] == plain[p][i] {
					equal++
				}
			}
		}
		// Each equality has probability 2^-64.
		if equal != 0 {
			t.Errorf("got %d stored values equal to the partner's encoded exact value, want 0",
				equal)
		}
	})

	// Unmasked, every value below has its top bit clear: exact totals and
	// contributor counts are small. Masked, the top bit of a uniform value
	// is set with probability 1/2; allow 5 standard errors.
	balanced := func(t *testing.T, what string, v []uint64) {
		t.Helper()
		set := 0
		for _, x := range v {
			set += int(x >> 63)
		}
		mean, sd := float64(len(v))/2, math.Sqrt(float64(len(v)))/2
		if math.Abs(float64(set)-mean) > 5*sd {
			t.Errorf("%s: got %d of %d top bits set, want %v ± %v", what, set, len(v), mean, 5*sd)
		}
	}
	t.Run("each submission is balanced", func(t *testing.T) {
		for _, s := range subs {
			balanced(t, s.Partner+" values", s.Values)
			balanced(t, s.Partner+" contributors", s.Contributors)
		}
	})
	t.Run("sum without one submission is balanced", func(t *testing.T) {
		for left := range subs {
			vals := make([]uint64, cells)
			contr := make([]uint64, cells)
			for p, s := range subs {
				if p == left {
					continue
				}
				for i := range cells {
					vals[i] += s.Values[i]
					contr[i] += s.Contributors[i]
				}
			}
			balanced(t, "without "+subs[left].Partner+" values", vals)
			balanced(t, "without "+subs[left].Partner+" contributors", contr)
		}
	})
}

func TestTranscriptVerifies(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ids := identities(t, 4)
	r := newRound(ids, "r1", fareStatistic(10))
	exact, contributes := randomInputs(rng, r, 4, 1)
	res := release(t, r, prepareAll(t, ids, r, exact, contributes))

	if got, want := len(res.Transcript), 4; got != want {
		t.Fatalf("got %d submissions in the transcript, want %d", got, want)
	}
	sum := make([]uint64, r.Cells())
	for _, s := range res.Transcript {
		if err := s.Verify(r); err != nil {
			t.Errorf("Verify(%s): %v", s.Partner, err)
		}
		for i, v := range s.Values {
			sum[i] += v
		}
	}
	// Anyone holding the round recomputes the released values.
	for i, c := range res.Cells {
		_, a := r.Cell(i)
		if got, want := float64(int64(sum[i]))/fine/r.Statistic.unit(a), c.Value; got != want {
			t.Errorf("cell %d: got recomputed %v, want released %v", i, got, want)
		}
	}
	if got, want := res.RoundHash, r.Hash(); got != want {
		t.Errorf("got round hash %s, want %s", got, want)
	}
}

func TestPrepareRefusesBadInput(t *testing.T) {
	ids := identities(t, 3)
	r := newRound(ids, "r1", fareStatistic(2)) // 16 cells
	ok := func() ([]int64, []bool) {
		return make([]int64, 16), make([]bool, 16)
	}
	outsider, err := NewIdentity("p1")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		id    *Identity
		input func() ([]int64, []bool)
		want  error
	}{
		{"short values", ids[0], func() ([]int64, []bool) {
			e, c := ok()
			return e[:15], c
		}, ErrMalformed},
		{"short indicators", ids[0], func() ([]int64, []bool) {
			e, c := ok()
			return e, c[:15]
		}, ErrMalformed},
		{"value above MaxExact", ids[0], func() ([]int64, []bool) {
			e, c := ok()
			e[1], c[1] = MaxExact+1, true
			return e, c
		}, ErrMalformed},
		{"negative count", ids[0], func() ([]int64, []bool) {
			e, c := ok()
			e[0], c[0] = -1, true
			return e, c
		}, ErrMalformed},
		{"value without indicator", ids[0], func() ([]int64, []bool) {
			e, c := ok()
			e[2] = 5
			return e, c
		}, ErrMalformed},
		{"same name, other keys", outsider, ok, ErrUnknownPartner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, c := tt.input()
			_, err := Prepare(tt.id, r, e, c, WithoutNoise())
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}
