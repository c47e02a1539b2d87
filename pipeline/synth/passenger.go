package synth

import (
	"math"
	"math/rand/v2"
)

// Salts separate the random streams drawn from one seed.
const (
	saltBookings uint64 = iota + 1 // bookings per passenger
	saltPaxA                       // per-passenger PCG, first word
	saltPaxB                       // per-passenger PCG, second word
	saltPaxID                      // passenger id permutation
	saltFF                         // frequent-flyer number permutation
	saltMess                       // messy names in dirty exports
	saltRows                       // booking attributes
	saltShuffle                    // order of bookings
	saltRef                        // booking reference permutation
	saltDefects                    // which rows are dirty, and how
)

// Bookings per passenger follow a discrete Pareto law: P(n ≥ k) ≈ k^-α,
// capped. With α = 1.35 a passenger has about 3 bookings on average, the
// median passenger one, and about 1 in 500 has 100 or more.
const (
	paretoAlpha = 1.35
	maxBookings = 500
)

// bookingsDraw returns the uniform draw in (0, 1] behind passenger p's
// number of bookings: the smaller, the more bookings.
func bookingsDraw(seed uint64, p uint32) float64 {
	return float64(key(seed, saltBookings, uint64(p))>>11+1) / (1 << 53)
}

// bookingsOf returns the number of bookings passenger p makes when the
// export is long enough, between 1 and maxBookings.
func bookingsOf(seed uint64, p uint32) int {
	n := math.Pow(bookingsDraw(seed, p), -1/paretoAlpha)
	if n >= maxBookings {
		return maxBookings
	}
	return int(n)
}

// bookingsAtLeast returns the largest draw of bookingsDraw that gives at
// least n bookings.
func bookingsAtLeast(n int) float64 {
	return math.Pow(float64(n), -paretoAlpha)
}

// Frequent-flyer tiers, in the order of the ff_tier values.
var tiers = []string{"none", "blue", "silver", "gold", "platinum"}

const (
	tierNone = iota
	tierBlue
	tierSilver
	tierGold
	tierPlatinum
)

// Passengers with a bookingsDraw at most regularDraw book at least 10
// times, at most frequentDraw at least 50 times.
var (
	regularDraw  = bookingsAtLeast(10)
	frequentDraw = bookingsAtLeast(50)
)

// Tier weights (indexed like tiers) for casual, regular and frequent
// flyers who are members.
var (
	tierCasual   = newPicker([]int{0, 65, 25, 8, 2})
	tierRegular  = newPicker([]int{0, 10, 40, 40, 10})
	tierFrequent = newPicker([]int{0, 0, 5, 35, 60})
)

var (
	genders   = newPicker([]int{49, 49, 2})     // F, M, X
	cardKinds = newPicker([]int{55, 30, 12, 3}) // Visa, Mastercard, Amex, Visa 19
)

// emailDomains are reserved example domains only (RFC 2606).
var emailDomains = []string{
	"example.com", "example.org", "example.net",
	"mail.example.org", "inbox.example.com", "post.example.net",
}

// passenger holds one passenger's attributes, identical in every row of
// that passenger. Its byte slices are reused from passenger to passenger.
type passenger struct {
	idx      uint32
	valid    bool
	often    float64 // bookingsDraw: the smaller, the more bookings
	id       []byte
	first    []byte
	last     []byte
	email    []byte
	phone    []byte
	passport []byte
	dob      int32 // days since 1970-01-01
	gender   byte
	nation   uint8 // index in countries
	ff       []byte
	tier     uint8
	home     uint8 // index in airports
	postcode []byte
	card     []byte
	consent  bool
	consentS int64 // Unix seconds, meaningful when consent is true
}

// Bounds of the dates drawn for passengers.
var (
	dobFirst     = daysFromCivil(1940, 1, 1)
	dobLast      = daysFromCivil(2008, 12, 31)
	consentFirst = int64(daysFromCivil(2019, 1, 1)) * secondsPerDay
	consentEnd   = int64(daysFromCivil(2025, 1, 1)) * secondsPerDay
)

// paxSource draws a passenger's attributes from (seed, passenger index)
// alone, so they do not depend on where the passenger's rows fall.
type paxSource struct {
	seed  uint64
	dirty bool
	idKey uint64
	ffKey uint64
	pcg   *rand.PCG
	r     *rand.Rand
}

func newPaxSource(seed uint64, dirty bool) *paxSource {
	pcg := rand.NewPCG(0, 0)
	return &paxSource{
		seed:  seed,
		dirty: dirty,
		idKey: key(seed, saltPaxID, 0),
		ffKey: key(seed, saltFF, 0),
		pcg:   pcg,
		r:     rand.New(pcg),
	}
}

// derive fills x with passenger p's attributes.
func (s *paxSource) derive(x *passenger, p uint32) {
	s.pcg.Seed(key(s.seed, saltPaxA, uint64(p)), key(s.seed, saltPaxB, uint64(p)))
	r := s.r
	x.idx, x.valid = p, true
	x.often = bookingsDraw(s.seed, p)

	x.id = append(x.id[:0], "PAX"...)
	x.id = appendDigits(x.id, 100_000_000+int(permuteBits(uint64(p), s.idKey, 29)), 9)

	// Where the passenger lives, and where from.
	x.home = uint8(homePicker.pick(r))
	residence := int(airportCountry[x.home])
	x.nation = uint8(residence)
	if r.IntN(4) == 0 {
		x.nation = uint8(nationPicker.pick(r))
	}

	s.names(x, r)
	x.phone = appendPhone(x.phone[:0], r, &countries[residence])
	x.passport = appendPassport(x.passport[:0], r)
	x.dob = drawBirthDay(r)
	s.loyalty(x, r)
	x.postcode = appendPostcode(x.postcode[:0], r, &countries[residence])
	x.card = appendCard(x.card[:0], r)

	x.consent = r.IntN(100) < 70
	x.consentS = consentFirst + r.Int64N(consentEnd-consentFirst)
}

// names fills gender, names and email. The messy variants of dirty
// exports come from a hash rather than from r, so that the other
// attributes are the same with and without Dirty.
func (s *paxSource) names(x *passenger, r *rand.Rand) {
	c := countries[x.nation].culture
	lists := &names[c]
	x.gender = "FMX"[genders.pick(r)]
	given := lists.female
	if x.gender == 'M' || (x.gender == 'X' && r.IntN(2) == 0) {
		given = lists.male
	}
	first := given[r.IntN(len(given))]
	last := lists.last[r.IntN(len(lists.last))]
	x.first = append(x.first[:0], first.text...)
	x.last = append(x.last[:0], last.text...)
	if c == cultureEnglish && r.IntN(50) == 0 {
		x.last = append(x.last, nameSuffixes[r.IntN(len(nameSuffixes))]...)
	}
	if s.dirty {
		h := key(s.seed, saltMess, uint64(x.idx))
		if h%500 == 0 {
			// A double-barrelled name split over two lines.
			other := lists.last[(h>>20)%uint64(len(lists.last))]
			x.last = append(append(x.last, '\n'), other.text...)
		}
		if c == cultureEnglish && (h>>10)%200 == 0 {
			x.first = append(x.first, nicknames[(h>>30)%uint64(len(nicknames))]...)
		}
	}

	// Email: a pattern of the ASCII names, the passenger number so that
	// addresses are unique, and a reserved domain.
	e := x.email[:0]
	switch r.IntN(4) {
	case 0:
		e = append(append(append(e, first.ascii...), '.'), last.ascii...)
	case 1:
		e = append(append(e, first.ascii...), last.ascii...)
	case 2:
		e = append(append(append(e, first.ascii[0]), '.'), last.ascii...)
	default:
		e = append(append(append(e, first.ascii...), '_'), last.ascii...)
	}
	e = appendUint(e, uint64(x.idx)+1)
	e = append(e, '@')
	x.email = append(e, emailDomains[r.IntN(len(emailDomains))]...)
}

// loyalty fills the frequent-flyer number and tier: passengers who book
// often are nearly always members and hold higher tiers.
func (s *paxSource) loyalty(x *passenger, r *rand.Rand) {
	x.ff = x.ff[:0]
	member := r.IntN(100) < 57
	if x.often <= regularDraw {
		member = r.IntN(100) < 95
	}
	if !member {
		x.tier = tierNone
		return
	}
	x.ff = append(x.ff, "FF"...)
	x.ff = appendDigits(x.ff, 1_000_000_000+int(permuteBits(uint64(x.idx), s.ffKey, 33)), 10)
	switch {
	case x.often <= frequentDraw:
		x.tier = uint8(tierFrequent.pick(r))
	case x.often <= regularDraw:
		x.tier = uint8(tierRegular.pick(r))
	default:
		x.tier = uint8(tierCasual.pick(r))
	}
}

// drawBirthDay draws a date of birth in 1940–2008, peaked in the
// mid-1970s. About 0.3% fall on 29 February so that leap days occur
// even in small exports.
func drawBirthDay(r *rand.Rand) int32 {
	if r.IntN(1000) < 3 {
		return daysFromCivil(1940+4*r.IntN(18), 2, 29)
	}
	span := float64(dobLast - dobFirst + 1)
	day := dobFirst + int32((r.Float64()+r.Float64())/2*span)
	return min(day, dobLast)
}

// appendUint appends v in decimal.
func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
