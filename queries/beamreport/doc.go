// Package beamreport computes DP reports on Apache Beam with Privacy on
// Beam (pbeam), and releases them through the query engine's ledger.
//
// A report spec names a dataset, group columns and aggregates (count,
// people, sum, mean, quantiles) with ε and δ. Run turns it into the DP SQL
// query it stands for and has the query engine check and price it
// (queries.Engine.Prepare): the same allow-list, bounds, contribution
// limits, budget split and fingerprint as any query. Unless the same query
// was released before (then that answer comes back, free), and if the
// principal's budget allows it, the Beam pipeline reads the dataset
// version's Parquet files, bounds contributions and adds noise with pbeam
// — one partition selection (pbeam.SelectPartitions) shared by all
// aggregates, or the public groups — and the engine charges the answer in
// the ledger, in the transaction that records it (queries.Engine.Release),
// before Run returns it. The ledger is where the API and the CLI find
// released answers: asking the printed SQL with the report's options
// returns the report's answer at no cost.
//
// Intervals (95%) are exact for count, people and sum, computed from the
// noise pbeam added (the same l0, l∞, ε and δ); for mean and quantiles
// they are the column's public bounds.
package beamreport
