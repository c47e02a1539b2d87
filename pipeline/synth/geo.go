package synth

import "math"

// postcodeStyle says how a country writes postcodes.
type postcodeStyle uint8

const (
	postNone   postcodeStyle = iota // no postcodes: the field stays empty
	postDigits                      // postLen digits: "10115", "018956"
	postGB                          // "SW1A 1AA"
	postIE                          // Eircode, "D02 X285"
	postNL                          // "1012 AB"
	postJP                          // "100-0001"
	postPL                          // "00-950"
	postSE                          // "113 51"
)

// country is a country of residence or nationality, with what a CRM
// record of its residents looks like.
type country struct {
	code     string // ISO 3166-1 alpha-2
	culture  culture
	weight   int    // share among nationalities drawn world-wide
	dial     string // E.164 country calling code
	mobile   string // first digits of a mobile number, one picked per number
	rest     int    // digits after the mobile prefix digit
	post     postcodeStyle
	postLen  int    // digits, for postDigits
	currency string // currency of a booking made from a home airport here
}

var countries = []country{
	{"GB", cultureEnglish, 10, "44", "7", 9, postGB, 0, "GBP"},
	{"IE", cultureEnglish, 2, "353", "8", 8, postIE, 0, "EUR"},
	{"US", cultureEnglish, 10, "1", "23456789", 9, postDigits, 5, "USD"},
	{"AU", cultureEnglish, 4, "61", "4", 8, postDigits, 4, "USD"},
	{"SG", cultureSingapore, 4, "65", "89", 7, postDigits, 6, "SGD"},
	{"HK", cultureSingapore, 2, "852", "569", 7, postNone, 0, "USD"},
	{"DE", cultureGerman, 8, "49", "1", 10, postDigits, 5, "EUR"},
	{"AT", cultureGerman, 1, "43", "6", 9, postDigits, 4, "EUR"},
	{"CH", cultureGerman, 2, "41", "7", 8, postDigits, 4, "USD"},
	{"FR", cultureFrench, 7, "33", "67", 8, postDigits, 5, "EUR"},
	{"BE", cultureFrench, 2, "32", "4", 8, postDigits, 4, "EUR"},
	{"ES", cultureSpanish, 5, "34", "67", 8, postDigits, 5, "EUR"},
	{"MX", cultureSpanish, 2, "52", "5", 9, postDigits, 5, "USD"},
	{"NL", cultureDutch, 4, "31", "6", 8, postNL, 0, "EUR"},
	{"DK", cultureNordic, 1, "45", "2345", 7, postDigits, 4, "USD"},
	{"SE", cultureNordic, 2, "46", "7", 8, postSE, 0, "USD"},
	{"NO", cultureNordic, 1, "47", "49", 7, postDigits, 4, "USD"},
	{"IS", cultureNordic, 1, "354", "678", 6, postDigits, 3, "USD"},
	{"PL", culturePolish, 3, "48", "5678", 8, postPL, 0, "USD"},
	{"IT", cultureItalian, 5, "39", "3", 9, postDigits, 5, "EUR"},
	{"VN", cultureVietnamese, 2, "84", "39", 8, postDigits, 6, "USD"},
	{"CN", cultureChinese, 7, "86", "1", 10, postDigits, 6, "USD"},
	{"JP", cultureJapanese, 5, "81", "9", 9, postJP, 0, "USD"},
	{"AE", cultureArabic, 2, "971", "5", 8, postNone, 0, "USD"},
	{"QA", cultureArabic, 1, "974", "3567", 7, postNone, 0, "USD"},
	{"IN", cultureIndian, 7, "91", "6789", 9, postDigits, 6, "USD"},
	{"TR", cultureTurkish, 2, "90", "5", 9, postDigits, 5, "USD"},
	{"TH", cultureThai, 2, "66", "689", 8, postDigits, 5, "USD"},
}

// airport is a home, origin or destination airport.
type airport struct {
	iata     string
	country  string
	lat, lon float64 // degrees
	weight   int     // share of passengers living near it
}

var airports = []airport{
	{"LHR", "GB", 51.47, -0.45, 12},
	{"LGW", "GB", 51.15, -0.19, 4},
	{"MAN", "GB", 53.35, -2.27, 3},
	{"DUB", "IE", 53.42, -6.27, 3},
	{"JFK", "US", 40.64, -73.78, 8},
	{"LAX", "US", 33.94, -118.41, 5},
	{"SFO", "US", 37.62, -122.38, 4},
	{"ORD", "US", 41.97, -87.91, 3},
	{"SYD", "AU", -33.95, 151.18, 4},
	{"MEL", "AU", -37.67, 144.84, 2},
	{"SIN", "SG", 1.36, 103.99, 8},
	{"HKG", "HK", 22.31, 113.91, 4},
	{"FRA", "DE", 50.03, 8.56, 7},
	{"MUC", "DE", 48.35, 11.79, 4},
	{"ZRH", "CH", 47.46, 8.55, 3},
	{"CDG", "FR", 49.01, 2.55, 7},
	{"AMS", "NL", 52.31, 4.76, 6},
	{"MAD", "ES", 40.47, -3.56, 5},
	{"BCN", "ES", 41.30, 2.08, 4},
	{"FCO", "IT", 41.80, 12.25, 4},
	{"CPH", "DK", 55.62, 12.65, 3},
	{"ARN", "SE", 59.65, 17.92, 2},
	{"KEF", "IS", 63.99, -22.62, 1},
	{"WAW", "PL", 52.17, 20.97, 2},
	{"DXB", "AE", 25.25, 55.36, 6},
	{"DOH", "QA", 25.27, 51.61, 3},
	{"HND", "JP", 35.55, 139.78, 5},
	{"IST", "TR", 41.26, 28.74, 3},
	{"BKK", "TH", 13.69, 100.75, 3},
	{"DEL", "IN", 28.56, 77.10, 3},
	{"PVG", "CN", 31.14, 121.81, 3},
	{"SGN", "VN", 10.82, 106.65, 1},
}

// popularRoutes are city pairs booked far more often than their airports'
// sizes alone suggest, in both directions.
var popularRoutes = [][2]string{
	{"LHR", "JFK"}, {"LHR", "DXB"}, {"LHR", "SIN"}, {"LHR", "AMS"}, {"LHR", "MAD"},
	{"LHR", "DUB"}, {"SIN", "SYD"}, {"SIN", "HKG"}, {"SIN", "BKK"}, {"SIN", "HND"},
	{"FRA", "JFK"}, {"CDG", "JFK"}, {"JFK", "LAX"}, {"SFO", "JFK"}, {"SYD", "MEL"},
	{"MAD", "BCN"}, {"DXB", "DEL"}, {"HND", "HKG"}, {"AMS", "CDG"}, {"FRA", "MUC"},
}

// Tables derived from the ones above when the package loads.
var (
	countryIndex   = map[string]int{} // code to position in countries
	airportCountry []uint8            // airport to its country
	homePicker     *picker            // home airport of a passenger
	nationPicker   *picker            // nationality drawn world-wide
	routeKm        [][]float64        // great-circle distance, origin to destination
	routePickers   []*picker          // destination given the origin
)

func init() {
	weights := make([]int, len(countries))
	for i, c := range countries {
		countryIndex[c.code] = i
		weights[i] = c.weight
	}
	nationPicker = newPicker(weights)

	weights = make([]int, len(airports))
	airportCountry = make([]uint8, len(airports))
	for i, a := range airports {
		ci, ok := countryIndex[a.country]
		if !ok {
			panic("synth: airport " + a.iata + " in unknown country " + a.country)
		}
		airportCountry[i] = uint8(ci)
		weights[i] = a.weight
	}
	homePicker = newPicker(weights)

	popular := map[[2]string]bool{}
	for _, r := range popularRoutes {
		popular[r] = true
		popular[[2]string{r[1], r[0]}] = true
	}
	routeKm = make([][]float64, len(airports))
	routePickers = make([]*picker, len(airports))
	for o, from := range airports {
		routeKm[o] = make([]float64, len(airports))
		w := make([]int, len(airports))
		for d, to := range airports {
			routeKm[o][d] = greatCircleKm(from, to)
			if o == d {
				continue
			}
			w[d] = to.weight * 10
			if popular[[2]string{from.iata, to.iata}] {
				w[d] *= 6
			}
		}
		routePickers[o] = newPicker(w)
	}
}

// greatCircleKm is the haversine distance between two airports.
func greatCircleKm(a, b airport) float64 {
	const earthKm = 6371.0
	rad := math.Pi / 180
	dLat := (b.lat - a.lat) * rad
	dLon := (b.lon - a.lon) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(a.lat*rad)*math.Cos(b.lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthKm * math.Asin(math.Sqrt(h))
}
