// Package synth generates synthetic airline CRM booking exports: files that
// look like what an airline's CRM hands to haze, with no real person in
// them. `haze gen`, the pipeline's tests and its benchmarks use it.
//
// # Guarantees
//
// Output is deterministic: the same Options give the same bytes, in every
// format, from the same build. Across CPU architectures floating-point
// rounding could, very rarely, move an amount by a cent. Output is not
// guaranteed to stay the same across versions of this package or of
// arrow-go. Write streams: memory stays at about 4 bytes
// per row (which passenger makes each booking) plus, for Parquet, the
// batches in flight, so exports of 10 million rows are fine. Nothing in an
// export is real: names come from short lists, emails use the reserved
// example.com, example.org and example.net domains, card numbers are random
// Luhn-valid test numbers, and phone and passport numbers are random.
//
// # Rows and passengers
//
// Each row is one booking. An export of n rows has about n/3 passengers.
// The number of bookings per passenger is heavy-tailed (a capped discrete
// Pareto law): most passengers book once or twice, and a few frequent
// flyers book hundreds of times. A passenger's own attributes are drawn
// from the seed and the passenger's number alone, so they are the same in
// every one of that passenger's rows.
//
// # Columns
//
// The columns, in the order of Columns:
//
//   - passenger_id: "PAX" and 9 digits, unique per passenger.
//   - first_name, last_name: from lists by culture, many with non-ASCII
//     letters ("José", "Łukasz", "Søren", "Nguyễn", "王"); about 2% of
//     English last names carry a suffix after a comma ("O'Brien, Jr.").
//   - email: the names folded to ASCII, the passenger's number and a
//     reserved example domain; unique per passenger.
//   - phone: a mobile number in E.164 form for the country of residence.
//   - passport_number: 2 capital letters and 7 digits.
//   - date_of_birth: YYYY-MM-DD in 1940–2008, 29 February included.
//   - gender: F, M or X.
//   - nationality: ISO 3166-1 alpha-2, mostly the country of residence.
//   - ff_number: "FF" and 10 digits, empty for about 40% of passengers.
//   - ff_tier: none, blue, silver, gold or platinum; "none" exactly when
//     ff_number is empty; frequent flyers hold higher tiers.
//   - home_airport: an IATA code of one of about 30 airports, weighted.
//   - postcode: in the style of the home country ("SW1A 1AA", "018956",
//     "10115"); empty where the country has none.
//   - card_number: Luhn-valid; 16 digits (prefix 4 or 51–55), 15 (34, 37)
//     or now and then 19 (4).
//   - booking_ref: 6 characters of A–Z and 0–9, unique per row.
//   - booking_date: YYYY-MM-DD in 2025-01-01..2026-11-30.
//   - flight_date: 1 to 300 days after booking_date.
//   - origin, destination: IATA codes, never equal; origin is mostly the
//     home airport, destinations favour popular routes.
//   - cabin: economy, premium_economy, business or first, about 75/12/10/3.
//   - fare_amount: two decimals, by cabin and route length; economy
//     60–1500, first up to 9000, never above 10000.
//   - ancillary_amount: two decimals, 0–400, zero for about 45% of rows.
//   - currency: EUR, USD, GBP or SGD, by the home airport's country.
//   - channel: web, app, agent or call_center.
//   - marketing_consent: true or false, about 70% true, per passenger.
//   - consent_timestamp: ISO 8601 UTC ("2024-03-05T10:11:12Z"), empty when
//     marketing_consent is false.
//   - campaign: empty, summer-2026, winter-sun, black-friday or
//     ff-double-miles (the last for frequent-flyer members only).
//
// # Formats
//
// CSV follows RFC 4180: a header line, commas, LF line ends, and quotes only
// around fields holding a comma, a quote or a line break. NDJSON writes one
// object per line with the keys of Columns in order; fare_amount and
// ancillary_amount are numbers, marketing_consent a boolean, every other
// value a string ("" when empty). Parquet is typed as ParquetSchema says,
// snappy-compressed, in row groups of 131,072 rows; empty text stays an
// empty string, and consent_timestamp is null when consent is false.
//
// # Dirty exports
//
// With Options.Dirty, about 0.4% of rows carry exactly one defect, drawn
// from a stream of their own, so the row count stays Options.Rows and the
// same rows are spoiled in every format. Stats.DirtyRows counts them. The
// defects are:
//
//   - an impossible date_of_birth or booking_date, well formed but not in
//     the calendar ("2026-02-30", "1999-13-01", "2025-02-29");
//   - fare_amount "N/A", or with a thousands separator ("1,234.50",
//     quoted in CSV);
//   - an empty passenger_id;
//   - a short line: the last 2 to 6 fields missing.
//
// NDJSON writes the same defects: dates and fares as strings, and a short
// line as an object missing its last keys. Parquet writes only what its
// types allow: an empty passenger_id, and nulls for impossible dates, for
// unusable fares and for the missing fields of a short line.
//
// Dirty exports also hold messy text that is not a defect, since a
// correct reader parses it: a few passengers' last names span two lines
// ("García\nLópez", quoted in CSV, escaped in NDJSON), and a few first
// names hold quotes (`Robert "Bob"`). These are passenger attributes, so
// they change those passengers' clean rows too; apart from first_name and
// last_name, a row without a defect is the same with and without Dirty.
package synth
