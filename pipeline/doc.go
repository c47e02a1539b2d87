// Package pipeline turns a raw CRM export into a pseudonymised dataset.
//
// A job spec (YAML, see Spec) names the export, the privacy unit, the key,
// and one policy per column. Run reads the export with DuckDB, streaming
// Arrow record batches; workers apply the anonymize transforms batch by
// batch; one writer appends the results to Parquet files in a temporary
// folder. Rows are routed in this order:
//
//  1. rows of subjects on the erasure list vanish (counted, nothing kept);
//  2. rows failing the consent rule are left out (counted);
//  3. rows the reader cannot parse, or whose values a policy cannot
//     transform, go to quarantine with their reason and the privacy unit's
//     token, never their values;
//  4. the rest is published.
//
// Export columns the spec does not name are dropped and reported, so a
// column added to next month's export never slips through.
//
// Publishing is atomic: the finished folder is renamed to its version
// folder, then the catalog records the version in one transaction. A run
// killed at any moment leaves the previous version current and intact; the
// next run removes what it left. A run whose rejected share exceeds the
// spec's limit publishes nothing and keeps its manifest and quarantine
// under failed/.
//
// Memory stays bounded whatever the export's size: DuckDB streams its
// result under a memory limit, and the batch queues are short.
//
// Other engines run the same jobs through ExternalRun (see
// pipeline/beamjob for Apache Beam): Split cuts the export into shards,
// ExternalPlan reads each with the same source query and writes with the
// same Parquet writer, and ExternalRun.Finish publishes as Run does.
package pipeline
