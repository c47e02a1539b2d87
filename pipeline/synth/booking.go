package synth

import (
	"math"
	"math/rand/v2"
)

// Value lists of the booking columns; the tables below index into them.
var (
	cabins    = []string{"economy", "premium_economy", "business", "first"}
	channels  = []string{"web", "app", "agent", "call_center"}
	campaigns = []string{"", "summer-2026", "winter-sun", "black-friday", "ff-double-miles"}
)

const campaignDoubleMiles = 4

var (
	// About a third of bookings are by gold and platinum members, who fly
	// up front more often; overall the cabins come out near 75/12/10/3.
	cabinPicker        = newPicker([]int{80, 11, 7, 2})
	cabinPickerPremium = newPicker([]int{66, 14, 15, 5})
	channelPicker      = newPicker([]int{45, 30, 15, 10})
	campaignPicker     = newPicker([]int{70, 9, 8, 7, 6})
)

// Fares by cabin: a multiple of the economy fare for the route, kept
// within [fareMin, fareMax] (currency units). Fares that fall outside are
// spread over the quarter above fareMin or the tenth below fareMax rather
// than piled on the bound.
var (
	fareFactor = [4]float64{1, 1.7, 3.8, 6.5}
	fareMin    = [4]float64{60, 120, 350, 900}
	fareMax    = [4]float64{1500, 3200, 8000, 9000}
)

// Booking dates cover 2025-01-01 to 2026-11-30; flights leave 1 to
// maxLeadDays days later.
var (
	bookFirst = daysFromCivil(2025, 1, 1)
	bookDays  = daysFromCivil(2026, 11, 30) - bookFirst + 1
)

const maxLeadDays = 300

// booking holds the attributes of one row that are not the passenger's.
type booking struct {
	ref       [6]byte
	bookDay   int32 // days since 1970-01-01
	flightDay int32
	origin    uint8 // index in airports
	dest      uint8
	cabin     uint8
	channel   uint8
	campaign  uint8
	fare      int64 // cents
	ancillary int64 // cents

	defect  defect
	badDate [10]byte // the impossible date of a date defect
	keep    int      // fields present: numCols unless the line is short
}

// draw fills b, except ref and the defect, for a booking by x.
func (b *booking) draw(r *rand.Rand, x *passenger) {
	b.bookDay = bookFirst + r.Int32N(bookDays)
	lead := int32(1 + r.ExpFloat64()*55)
	for lead > maxLeadDays {
		lead = int32(1 + r.ExpFloat64()*55)
	}
	b.flightDay = b.bookDay + lead

	// Most trips start at home; the rest are returns and onward legs.
	b.origin = x.home
	if r.IntN(100) >= 80 {
		b.origin = uint8(homePicker.pick(r))
	}
	b.dest = uint8(routePickers[b.origin].pick(r))

	if x.tier >= tierGold {
		b.cabin = uint8(cabinPickerPremium.pick(r))
	} else {
		b.cabin = uint8(cabinPicker.pick(r))
	}
	economy := (45 + 0.085*routeKm[b.origin][b.dest]) * math.Exp(0.3*r.NormFloat64())
	fare := economy * fareFactor[b.cabin]
	if lo := fareMin[b.cabin]; fare < lo {
		fare = lo * (1 + 0.25*r.Float64())
	}
	if hi := fareMax[b.cabin]; fare > hi {
		fare = hi * (1 - 0.1*r.Float64())
	}
	b.fare = int64(fare*100 + 0.5)

	// Bags, seats and meals: nothing for 45%, else mostly small sums.
	b.ancillary = 0
	if r.IntN(100) >= 45 {
		a := min(max(math.Exp(3.3+0.8*r.NormFloat64()), 3), 400)
		b.ancillary = int64(a*100 + 0.5)
	}

	b.channel = uint8(channelPicker.pick(r))
	b.campaign = uint8(campaignPicker.pick(r))
	if b.campaign == campaignDoubleMiles && x.tier == tierNone {
		b.campaign = 0
	}
}

// defect is the one flaw a dirty row carries.
type defect uint8

const (
	defectNone          defect = iota
	defectBirthDate            // impossible date_of_birth, "1999-13-01"
	defectBookingDate          // impossible booking_date, "2026-02-30"
	defectFareNA               // fare_amount "N/A"
	defectFareThousands        // fare_amount with a separator, "1,234.50"
	defectNoPassengerID        // empty passenger_id
	defectShortLine            // the last 2 to 6 fields missing
	numDefects
)

// defectPerMille is how many rows in a thousand a dirty export spoils.
const defectPerMille = 4

// spoil gives b a defect in about 0.4% of calls, drawing from r only.
func (b *booking) spoil(r *rand.Rand, x *passenger) {
	if r.Uint64N(1000) >= defectPerMille {
		return
	}
	b.defect = defect(1 + r.IntN(int(numDefects)-1))
	switch b.defect {
	case defectBirthDate:
		y, _, _ := civilFromDays(x.dob)
		b.badDate = impossibleDate(r, y)
	case defectBookingDate:
		y, _, _ := civilFromDays(b.bookDay)
		b.badDate = impossibleDate(r, y)
	case defectFareThousands:
		if b.fare < 100_000 {
			b.fare = 100_000 + r.Int64N(100_000)
		}
	case defectShortLine:
		b.keep = numCols - 2 - r.IntN(5)
	}
}

// impossibleDate returns a well-formed "YYYY-MM-DD" in year y (or the
// next) that names no day of the calendar.
func impossibleDate(r *rand.Rand, y int) [10]byte {
	var b []byte
	switch r.IntN(4) {
	case 0:
		b = appendYMD(nil, y, 2, 30+r.IntN(2))
	case 1:
		b = appendYMD(nil, y, []int{4, 6, 9, 11}[r.IntN(4)], 31)
	case 2:
		b = appendYMD(nil, y, 13, 1+r.IntN(28))
	default:
		if isLeap(y) {
			y++
		}
		b = appendYMD(nil, y, 2, 29)
	}
	return [10]byte(b)
}
