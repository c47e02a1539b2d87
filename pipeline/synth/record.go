package synth

// record is the text of one row's fields, as CSV writes them unquoted.
// Field i is buf[end[i-1]:end[i]]; only the first n fields are present
// (fewer than numCols on a short line).
type record struct {
	buf []byte
	end [numCols]int
	n   int
}

// field returns the text of field i, valid until the next render.
func (r *record) field(i int) []byte {
	start := 0
	if i > 0 {
		start = r.end[i-1]
	}
	return r.buf[start:r.end[i]]
}

// render writes the fields of booking b by passenger x, defects included.
func (r *record) render(x *passenger, b *booking) {
	buf := r.buf[:0]
	mark := func(col int) { r.end[col] = len(buf) }

	if b.defect != defectNoPassengerID {
		buf = append(buf, x.id...)
	}
	mark(colPassengerID)
	buf = append(buf, x.first...)
	mark(colFirstName)
	buf = append(buf, x.last...)
	mark(colLastName)
	buf = append(buf, x.email...)
	mark(colEmail)
	buf = append(buf, x.phone...)
	mark(colPhone)
	buf = append(buf, x.passport...)
	mark(colPassport)
	if b.defect == defectBirthDate {
		buf = append(buf, b.badDate[:]...)
	} else {
		buf = appendDate(buf, x.dob)
	}
	mark(colDateOfBirth)
	buf = append(buf, x.gender)
	mark(colGender)
	buf = append(buf, countries[x.nation].code...)
	mark(colNationality)
	buf = append(buf, x.ff...)
	mark(colFFNumber)
	buf = append(buf, tiers[x.tier]...)
	mark(colFFTier)
	buf = append(buf, airports[x.home].iata...)
	mark(colHomeAirport)
	buf = append(buf, x.postcode...)
	mark(colPostcode)
	buf = append(buf, x.card...)
	mark(colCardNumber)

	buf = append(buf, b.ref[:]...)
	mark(colBookingRef)
	if b.defect == defectBookingDate {
		buf = append(buf, b.badDate[:]...)
	} else {
		buf = appendDate(buf, b.bookDay)
	}
	mark(colBookingDate)
	buf = appendDate(buf, b.flightDay)
	mark(colFlightDate)
	buf = append(buf, airports[b.origin].iata...)
	mark(colOrigin)
	buf = append(buf, airports[b.dest].iata...)
	mark(colDestination)
	buf = append(buf, cabins[b.cabin]...)
	mark(colCabin)
	switch b.defect {
	case defectFareNA:
		buf = append(buf, "N/A"...)
	case defectFareThousands:
		buf = appendCentsGrouped(buf, b.fare)
	default:
		buf = appendCents(buf, b.fare)
	}
	mark(colFare)
	buf = appendCents(buf, b.ancillary)
	mark(colAncillary)
	buf = append(buf, countries[airportCountry[x.home]].currency...)
	mark(colCurrency)
	buf = append(buf, channels[b.channel]...)
	mark(colChannel)
	if x.consent {
		buf = append(buf, "true"...)
	} else {
		buf = append(buf, "false"...)
	}
	mark(colConsent)
	if x.consent {
		buf = appendTimestamp(buf, x.consentS)
	}
	mark(colConsentTime)
	buf = append(buf, campaigns[b.campaign]...)
	mark(colCampaign)

	r.buf = buf
	r.n = b.keep
}

// fareIsText reports whether b's fare_amount is text that is not a
// number, so that typed formats must write it as a string or a null.
func (b *booking) fareIsText() bool {
	return b.defect == defectFareNA || b.defect == defectFareThousands
}

// appendCents appends c cents as units with two decimals, "1234.50".
func appendCents(b []byte, c int64) []byte {
	b = appendUint(b, uint64(c/100))
	b = append(b, '.')
	return appendDigits(b, int(c%100), 2)
}

// appendCentsGrouped is appendCents with a comma between thousands,
// "1,234.50", as spreadsheets export amounts.
func appendCentsGrouped(b []byte, c int64) []byte {
	units := uint64(c / 100)
	var groups []uint64
	for units >= 1000 {
		groups = append(groups, units%1000)
		units /= 1000
	}
	b = appendUint(b, units)
	for i := len(groups) - 1; i >= 0; i-- {
		b = append(b, ',')
		b = appendDigits(b, int(groups[i]), 3)
	}
	b = append(b, '.')
	return appendDigits(b, int(c%100), 2)
}
