package synth

// Dates are carried as days since 1970-01-01 (the Arrow date32 unit) and
// instants as seconds since the Unix epoch, and formatted by hand: the time
// package is too slow for the row loop.

const secondsPerDay = 86400

// daysFromCivil returns the day number of the proleptic Gregorian date
// y-m-d, counted from 1970-01-01. The date must be valid.
func daysFromCivil(y, m, d int) int32 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int32) (y, m, d int) {
	zz := int(z) + 719468
	era := zz / 146097
	if zz < 0 && zz%146097 != 0 {
		era--
	}
	doe := zz - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// isLeap reports whether y is a Gregorian leap year.
func isLeap(y int) bool {
	return y%4 == 0 && (y%100 != 0 || y%400 == 0)
}

// digitPairs holds "00" to "99", for writing two digits at a time.
const digitPairs = "0001020304050607080910111213141516171819" +
	"2021222324252627282930313233343536373839" +
	"4041424344454647484950515253545556575859" +
	"6061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendDigits appends v in exactly n decimal digits, zero-padded; v must
// be non-negative and below 10^n, and n at most 20.
func appendDigits(b []byte, v, n int) []byte {
	var tmp [20]byte
	u := uint64(v)
	i := n
	for i >= 2 {
		j := u % 100 * 2
		u /= 100
		i -= 2
		tmp[i], tmp[i+1] = digitPairs[j], digitPairs[j+1]
	}
	if i == 1 {
		tmp[0] = byte('0' + u%10)
	}
	return append(b, tmp[:n]...)
}

// appendYMD appends "YYYY-MM-DD" without checking that the date exists,
// which is how the dirty defects write impossible dates.
func appendYMD(b []byte, y, m, d int) []byte {
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, m, 2)
	b = append(b, '-')
	return appendDigits(b, d, 2)
}

// Dates from dateTableFirst to dateTableLast, which cover every date the
// generator draws, are formatted once into dateTable.
var (
	dateTableFirst = daysFromCivil(1940, 1, 1)
	dateTableLast  = daysFromCivil(2028, 12, 31)
	dateTable      = func() []byte {
		t := make([]byte, 0, 10*int(dateTableLast-dateTableFirst+1))
		for day := dateTableFirst; day <= dateTableLast; day++ {
			y, m, d := civilFromDays(day)
			t = appendYMD(t, y, m, d)
		}
		return t
	}()
)

// appendDate appends day as "YYYY-MM-DD".
func appendDate(b []byte, day int32) []byte {
	if day >= dateTableFirst && day <= dateTableLast {
		at := 10 * int(day-dateTableFirst)
		return append(b, dateTable[at:at+10]...)
	}
	y, m, d := civilFromDays(day)
	return appendYMD(b, y, m, d)
}

// appendTimestamp appends sec as ISO-8601 UTC, "2024-03-05T10:11:12Z".
// sec must not be negative.
func appendTimestamp(b []byte, sec int64) []byte {
	b = appendDate(b, int32(sec/secondsPerDay))
	s := int(sec % secondsPerDay)
	b = append(b, 'T')
	b = appendDigits(b, s/3600, 2)
	b = append(b, ':')
	b = appendDigits(b, s/60%60, 2)
	b = append(b, ':')
	b = appendDigits(b, s%60, 2)
	return append(b, 'Z')
}
