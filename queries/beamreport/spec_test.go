package beamreport_test

import (
	"strings"
	"testing"

	"haze/queries/beamreport"
)

func TestParseRefusesBadSpecs(t *testing.T) {
	base := "name: r\ndataset: bookings\nepsilon: 1\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", base + "aggregates: [{kind: count}]\nepsilom: 2\n", "epsilom"},
		{"no aggregates", base, "aggregates is required"},
		{"bad kind", base + "aggregates: [{kind: max, column: fare}]\n", `kind "max"`},
		{"sum without column", base + "aggregates: [{kind: sum}]\n", "sum needs a column"},
		{"quantiles without ranks", base + "aggregates: [{kind: quantiles, column: fare}]\n",
			"ranks are required"},
		{"rank out of range", base + "aggregates: [{kind: quantiles, column: fare, ranks: [1]}]\n",
			"ranks must be in (0, 1)"},
		{"public groups of no group", base + "aggregates: [{kind: count}]\n" +
			"public_groups: {cabin: [economy]}\n", "public_groups.cabin"},
		{"bad dataset", "name: r\ndataset: Bookings\nepsilon: 1\naggregates: [{kind: count}]\n",
			"dataset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := beamreport.Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSpecSQL(t *testing.T) {
	s, err := beamreport.Parse([]byte(`name: r
dataset: bookings
group_by: [cabin, destination]
epsilon: 1
aggregates:
  - {kind: count}
  - {kind: people, as: pax}
  - {kind: sum, column: fare_amount}
  - {kind: mean, column: fare_amount, as: fare}
  - {kind: quantiles, column: fare_amount, ranks: [0.29, 0.95]}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := s.SQL("passenger_id")
	want := "SELECT cabin, destination, COUNT(*) AS count, COUNT(DISTINCT passenger_id) AS pax, " +
		"SUM(fare_amount) AS sum_fare_amount, AVG(fare_amount) AS fare, " +
		"quantile_cont(fare_amount, 0.29) AS fare_amount_p29, " +
		"quantile_cont(fare_amount, 0.95) AS fare_amount_p95 " +
		"FROM bookings GROUP BY cabin, destination"
	if got != want {
		t.Errorf("SQL =\n%s\nwant\n%s", got, want)
	}
}
