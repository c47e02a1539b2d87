package federated

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math"
	"slices"
	"strings"
)

// Domain tags keep the encodings of rounds, submissions and masks apart:
// no byte string is the encoding of two of them.
const (
	roundTag      = "haze/federated/round/v1"
	statisticTag  = "haze/federated/statistic/v1"
	rosterTag     = "haze/federated/roster/v1"
	submissionTag = "haze/federated/submission/v1"
	maskTag       = "haze/federated/mask/v1"
)

// Hash returns the SHA-256 of r's canonical encoding, in lower-case hex.
// Every partner and the coordinator compute it from their copy of the
// round; a submission carries it and its signature covers it, so a
// submission made for a round that differs in any field is refused.
//
// The canonical encoding is the concatenation, in this order, of:
//
//	the string "haze/federated/round/v1"
//	ID, Period
//	the roster: its length, then each partner's Name, SignKey, DHKey
//	MinPartners, Epsilon, Delta
//	the statistic: Dataset; the number of aggregates, then each one's
//	  Kind, Column, Lo, Hi; the number of group columns, then each one's
//	  Column, number of keys and keys; MaxGroupsContributed,
//	  MaxContributionsPerGroup, Scale
//	Deadline as Unix seconds, then its nanoseconds within the second
//
// where a string or byte slice is its length as a 4-byte big-endian
// integer followed by its bytes, a length is a 4-byte big-endian integer,
// an integer is 8 bytes big-endian two's complement, and a float64 is its
// IEEE 754 bits as 8 bytes big-endian (-0 written as +0). The encoding is
// unambiguous, so two rounds have the same hash only if they are equal
// field by field (the deadline up to its time zone). A round that went
// through JSON and back keeps its hash.
func (r Round) Hash() string {
	h := sha256.New()
	c := canon{w: h}
	c.str(roundTag)
	c.str(r.ID)
	c.str(r.Period)
	c.roster(r.Roster)
	c.i64(int64(r.MinPartners))
	c.f64(r.Epsilon)
	c.f64(r.Delta)
	c.statistic(r.Statistic)
	c.i64(r.Deadline.Unix())
	c.i64(int64(r.Deadline.Nanosecond()))
	return hex.EncodeToString(h.Sum(nil))
}

// statisticKey returns a digest of s: rounds with equal keys aggregate
// the same thing.
func statisticKey(s Statistic) string {
	h := sha256.New()
	c := canon{w: h}
	c.str(statisticTag)
	c.statistic(s)
	return hex.EncodeToString(h.Sum(nil))
}

// rosterKey returns a digest of the set of partners in roster, whatever
// their order.
func rosterKey(roster []Partner) string {
	sorted := slices.Clone(roster)
	slices.SortFunc(sorted, func(a, b Partner) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	c := canon{w: h}
	c.str(rosterTag)
	c.roster(sorted)
	return hex.EncodeToString(h.Sum(nil))
}

// canon writes the canonical encoding described at Round.Hash to w, a
// hash or a bytes.Buffer, whose writes never fail.
type canon struct {
	w   io.Writer
	buf [8]byte
}

func (c *canon) u32(n int) {
	binary.BigEndian.PutUint32(c.buf[:4], uint32(n))
	c.w.Write(c.buf[:4])
}

func (c *canon) u64(v uint64) {
	binary.BigEndian.PutUint64(c.buf[:], v)
	c.w.Write(c.buf[:])
}

func (c *canon) i64(v int64) { c.u64(uint64(v)) }

func (c *canon) f64(v float64) {
	if v == 0 {
		v = 0 // -0 and +0 encode alike
	}
	c.u64(math.Float64bits(v))
}

func (c *canon) str(s string) {
	c.u32(len(s))
	c.w.Write([]byte(s))
}

func (c *canon) bytes(b []byte) {
	c.u32(len(b))
	c.w.Write(b)
}

func (c *canon) roster(roster []Partner) {
	c.u32(len(roster))
	for _, p := range roster {
		c.str(p.Name)
		c.bytes(p.SignKey)
		c.bytes(p.DHKey)
	}
}

func (c *canon) statistic(s Statistic) {
	c.str(s.Dataset)
	c.u32(len(s.Aggregates))
	for _, a := range s.Aggregates {
		c.str(a.Kind)
		c.str(a.Column)
		c.f64(a.Lo)
		c.f64(a.Hi)
	}
	c.u32(len(s.Groups))
	for _, g := range s.Groups {
		c.str(g.Column)
		c.u32(len(g.Keys))
		for _, k := range g.Keys {
			c.str(k)
		}
	}
	c.i64(s.MaxGroupsContributed)
	c.i64(s.MaxContributionsPerGroup)
	c.i64(int64(s.Scale))
}
