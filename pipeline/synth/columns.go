package synth

// Columns is the export's header, in order. CSV files start with these names
// as their first line, NDJSON objects use them as keys in this order, and
// Parquet files name their fields with them. Callers must not modify it.
var Columns = []string{
	"passenger_id",
	"first_name",
	"last_name",
	"email",
	"phone",
	"passport_number",
	"date_of_birth",
	"gender",
	"nationality",
	"ff_number",
	"ff_tier",
	"home_airport",
	"postcode",
	"card_number",
	"booking_ref",
	"booking_date",
	"flight_date",
	"origin",
	"destination",
	"cabin",
	"fare_amount",
	"ancillary_amount",
	"currency",
	"channel",
	"marketing_consent",
	"consent_timestamp",
	"campaign",
}

// Column positions in Columns.
const (
	colPassengerID = iota
	colFirstName
	colLastName
	colEmail
	colPhone
	colPassport
	colDateOfBirth
	colGender
	colNationality
	colFFNumber
	colFFTier
	colHomeAirport
	colPostcode
	colCardNumber
	colBookingRef
	colBookingDate
	colFlightDate
	colOrigin
	colDestination
	colCabin
	colFare
	colAncillary
	colCurrency
	colChannel
	colConsent
	colConsentTime
	colCampaign
	numCols
)
