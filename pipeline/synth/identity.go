package synth

import "math/rand/v2"

// Alphabets used in identifiers.
const (
	upper       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	base36      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	gbInward    = "ABDEFGHJLNPQRSTUWXYZ"
	eircodeBody = "ACDEFHKNPRTVWXY0123456789"
)

// gbAreas are postcode areas of Great Britain.
var gbAreas = []string{
	"SW", "EC", "WC", "W", "N", "E", "SE", "NW", "M", "B", "L", "LS", "G", "EH", "BS",
	"CF", "OX", "CB", "BN", "RG", "GU", "KT",
}

// pow10 holds 10^0 to 10^18.
var pow10 = func() (p [19]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// appendRandDigits appends n uniformly random decimal digits, drawing up
// to 18 of them at a time.
func appendRandDigits(b []byte, r *rand.Rand, n int) []byte {
	for n > 0 {
		k := min(n, 18)
		b = appendDigits(b, int(r.Uint64N(pow10[k])), k)
		n -= k
	}
	return b
}

// appendPhone appends a mobile number of country c in E.164 form,
// "+447700900123".
func appendPhone(b []byte, r *rand.Rand, c *country) []byte {
	b = append(b, '+')
	b = append(b, c.dial...)
	b = append(b, c.mobile[r.IntN(len(c.mobile))])
	return appendRandDigits(b, r, c.rest)
}

// appendPassport appends two capital letters and seven digits.
func appendPassport(b []byte, r *rand.Rand) []byte {
	b = append(b, upper[r.IntN(26)], upper[r.IntN(26)])
	return appendRandDigits(b, r, 7)
}

// appendPostcode appends a postcode in the style of country c; countries
// without postcodes append nothing.
func appendPostcode(b []byte, r *rand.Rand, c *country) []byte {
	switch c.post {
	case postDigits:
		return appendRandDigits(b, r, c.postLen)
	case postGB:
		area := gbAreas[r.IntN(len(gbAreas))]
		b = append(b, area...)
		district := 1 + r.IntN(20)
		b = appendUint(b, uint64(district))
		if district < 10 && len(area) <= 2 && r.IntN(5) == 0 {
			b = append(b, upper[r.IntN(26)])
		}
		b = append(b, ' ', byte('0'+r.IntN(10)))
		return append(b, gbInward[r.IntN(len(gbInward))], gbInward[r.IntN(len(gbInward))])
	case postIE:
		b = append(b, 'D')
		b = appendDigits(b, 1+r.IntN(24), 2)
		b = append(b, ' ')
		for range 4 {
			b = append(b, eircodeBody[r.IntN(len(eircodeBody))])
		}
		return b
	case postNL:
		b = appendDigits(b, 1000+r.IntN(9000), 4)
		return append(b, ' ', upper[r.IntN(26)], upper[r.IntN(26)])
	case postJP:
		b = appendDigits(b, 100+r.IntN(900), 3)
		b = append(b, '-')
		return appendRandDigits(b, r, 4)
	case postPL:
		b = appendRandDigits(b, r, 2)
		b = append(b, '-')
		return appendRandDigits(b, r, 3)
	case postSE:
		b = appendDigits(b, 100+r.IntN(900), 3)
		b = append(b, ' ')
		return appendRandDigits(b, r, 2)
	}
	return b
}

// appendCard appends a Luhn-valid test card number: 16 digits for Visa
// (prefix 4) and Mastercard (51–55), 15 for American Express (34, 37), and
// now and then a 19-digit Visa.
func appendCard(b []byte, r *rand.Rand) []byte {
	start := len(b)
	var length int
	switch cardKinds.pick(r) {
	case 0:
		b, length = append(b, '4'), 16
	case 1:
		b, length = append(b, '5', byte('1'+r.IntN(5))), 16
	case 2:
		b, length = append(b, '3', "47"[r.IntN(2)]), 15
	default:
		b, length = append(b, '4'), 19
	}
	b = appendRandDigits(b, r, length-1-(len(b)-start))
	return append(b, luhnDigit(b[start:]))
}

// luhnDigit returns the check digit that makes payload followed by it
// pass the Luhn test.
func luhnDigit(payload []byte) byte {
	sum := 0
	double := true // the rightmost payload digit is doubled
	for i := len(payload) - 1; i >= 0; i-- {
		d := int(payload[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// bookingRef returns the six-character booking reference (PNR) of row i.
// Distinct rows below 2^31 get distinct references.
func bookingRef(i int, k uint64) [6]byte {
	v := permuteBits(uint64(i), k, 31)
	var ref [6]byte
	for j := 5; j >= 0; j-- {
		ref[j] = base36[v%36]
		v /= 36
	}
	return ref
}
