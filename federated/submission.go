package federated

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/differential-privacy/go/v3/noise"
)

// Submission is one partner's signed, masked contribution to a round.
// Each vector has one entry per cell of the round (see Round.Cell). To
// anyone without the partner's pairwise keys, Values and Contributors are
// uniformly random; only the sum of all roster partners' submissions,
// mod 2^64, means something.
type Submission struct {
	// RoundID and RoundHash name the round the submission was made for:
	// its ID and Hash as the partner saw them.
	RoundID   string `json:"round_id"`
	RoundHash string `json:"round_hash"`
	// Partner is the submitting partner's roster name.
	Partner string `json:"partner"`
	// Values are the partner's exact values plus its noise share, in wire
	// units of 2^-12 fixed-point unit, plus its pairwise masks, mod 2^64.
	Values []uint64 `json:"values"`
	// Contributors are the partner's 0/1 contribution indicators plus its
	// pairwise masks, mod 2^64.
	Contributors []uint64 `json:"contributors"`
	// Signature is the partner's Ed25519 signature of the digest described
	// at Verify.
	Signature []byte `json:"signature"`
}

// Prepare builds id's submission to round r.
//
// exact holds id's exact aggregate in each cell of r, in fixed-point units
// (rows, people, or 10^-Scale of the summed column; see Round.ToFixed),
// computed after enforcing the statistic's contribution bounds and clamping
// sums to [Lo, Hi]: Prepare cannot check that, and the guarantee is void
// without it. contributes[i] reports whether id has at least one privacy
// unit in cell i; it must be true where exact[i] is not 0. Each |exact[i]|
// must be at most MaxExact, and counts must be >= 0.
//
// Prepare encodes each value as x × 2^12 mod 2^64, adds id's share of the
// Gaussian noise (see Round.Sigmas) drawn from the library, adds the
// pairwise masks shared with every other roster partner, and signs. The
// contribution indicators are masked the same way, without noise.
//
// Prepare spreads its work, the noise and the masks, over up to GOMAXPROCS
// goroutines. Each call draws fresh noise. A partner must make at most one
// submission per round id and charge its own privacy budget (ε, δ) for
// each submission it sends, released or not: a coordinator colluding with
// all other partners can see a submission's noisy values.
//
// Errors: a *ParamError if r does not validate; ErrUnknownPartner if id is
// not in the roster or its keys differ from its roster entry; ErrMalformed
// if exact or contributes has the wrong length or a value out of range.
// Messages never contain exact values.
func Prepare(id *Identity, r Round, exact []int64, contributes []bool, opts ...PrepareOption) (
	Submission, error) {
	if id == nil || id.sign == nil || id.dh == nil {
		return Submission{}, errNilIdentity
	}
	if err := r.Validate(); err != nil {
		return Submission{}, err
	}
	cfg := prepareConfig{noise: noise.Gaussian()}
	for _, o := range opts {
		o(&cfg)
	}

	// Find id in the roster, with the same keys.
	self := slices.IndexFunc(r.Roster, func(p Partner) bool { return p.Name == id.Name })
	if self < 0 {
		return Submission{}, fmt.Errorf("partner %q in round %q: %w", id.Name, r.ID,
			ErrUnknownPartner)
	}
	if !r.Roster[self].Equal(id.Public()) {
		return Submission{}, fmt.Errorf("partner %q in round %q: keys differ from the roster: %w",
			id.Name, r.ID, ErrUnknownPartner)
	}

	vals, contr, err := encode(r, exact, contributes)
	if err != nil {
		return Submission{}, err
	}
	if cfg.noise != nil {
		if err := addNoise(cfg.noise, r, vals); err != nil {
			return Submission{}, err
		}
	}
	hash := r.Hash()
	if err := addMasks(id, r, hash, self, vals, contr); err != nil {
		return Submission{}, err
	}

	s := Submission{RoundID: r.ID, RoundHash: hash, Partner: id.Name, Values: vals,
		Contributors: contr}
	s.Signature = ed25519.Sign(id.sign, s.digest())
	return s, nil
}

// encode checks a partner's exact vector and indicators and returns them
// in wire form: exact values times 2^12 and 0/1 indicators, mod 2^64.
func encode(r Round, exact []int64, contributes []bool) (vals, contr []uint64, err error) {
	cells := r.Cells()
	if len(exact) != cells || len(contributes) != cells {
		return nil, nil, fmt.Errorf("%d exact values and %d indicators given, want %d cells: %w",
			len(exact), len(contributes), cells, ErrMalformed)
	}
	aggs := r.Statistic.Aggregates
	vals = make([]uint64, cells)
	contr = make([]uint64, cells)
	for i, x := range exact {
		if x < -MaxExact || x > MaxExact {
			return nil, nil, fmt.Errorf("exact value of cell %d exceeds %d: %w", i,
				int64(MaxExact), ErrMalformed)
		}
		if x < 0 && aggs[i%len(aggs)].Kind != KindSum {
			return nil, nil, fmt.Errorf("exact count of cell %d is negative: %w", i, ErrMalformed)
		}
		if x != 0 && !contributes[i] {
			return nil, nil, fmt.Errorf("cell %d has a value but is marked as not contributed: %w",
				i, ErrMalformed)
		}
		vals[i] = uint64(x) << fracBits
		if contributes[i] {
			contr[i] = 1
		}
	}
	return vals, contr, nil
}

// Verify reports whether s is a well-formed submission to r signed by the
// roster partner it names. The signature is Ed25519 over the SHA-256 of
//
//	"haze/federated/submission/v1", RoundID, RoundHash, Partner,
//	len(Values), each of Values, len(Contributors), each of Contributors
//
// with strings and lengths as in the canonical encoding (see Round.Hash)
// and each value as 8 bytes big-endian.
//
// Errors: ErrUnknownRound if s is for another round id; ErrWrongHash if
// its round hash is not r.Hash(); ErrUnknownPartner if its partner is not
// in the roster; ErrMalformed if a vector's length is not r.Cells();
// ErrBadSignature if the signature does not verify.
func (s Submission) Verify(r Round) error {
	return s.verify(r, r.Hash())
}

// verify is Verify with the round's hash computed once by the caller.
func (s Submission) verify(r Round, roundHash string) error {
	if s.RoundID != r.ID {
		return fmt.Errorf("submission for round %q checked against round %q: %w", s.RoundID,
			r.ID, ErrUnknownRound)
	}
	if s.RoundHash != roundHash {
		return fmt.Errorf("round %q partner %q: %w", r.ID, s.Partner, ErrWrongHash)
	}
	i := slices.IndexFunc(r.Roster, func(p Partner) bool { return p.Name == s.Partner })
	if i < 0 {
		return fmt.Errorf("round %q partner %q: %w", r.ID, s.Partner, ErrUnknownPartner)
	}
	if cells := r.Cells(); len(s.Values) != cells || len(s.Contributors) != cells {
		return fmt.Errorf("round %q partner %q: %d values and %d indicators, want %d cells: %w",
			r.ID, s.Partner, len(s.Values), len(s.Contributors), cells, ErrMalformed)
	}
	key := r.Roster[i].SignKey
	if len(key) != ed25519.PublicKeySize || !ed25519.Verify(key, s.digest(), s.Signature) {
		return fmt.Errorf("round %q partner %q: %w", r.ID, s.Partner, ErrBadSignature)
	}
	return nil
}

// digest returns the SHA-256 that the signature covers; see Verify.
func (s Submission) digest() []byte {
	h := sha256.New()
	c := canon{w: h}
	c.str(submissionTag)
	c.str(s.RoundID)
	c.str(s.RoundHash)
	c.str(s.Partner)
	buf := make([]byte, 0, 8*maskChunk)
	for _, v := range [][]uint64{s.Values, s.Contributors} {
		c.u32(len(v))
		for start := 0; start < len(v); start += maskChunk {
			buf = buf[:0]
			for _, x := range v[start:min(start+maskChunk, len(v))] {
				buf = binary.BigEndian.AppendUint64(buf, x)
			}
			h.Write(buf)
		}
	}
	return h.Sum(nil)
}

// clone returns a deep copy of s.
func (s Submission) clone() Submission {
	s.Values = slices.Clone(s.Values)
	s.Contributors = slices.Clone(s.Contributors)
	s.Signature = slices.Clone(s.Signature)
	return s
}
