// Package beamjob runs pipeline job specs on Apache Beam (Go SDK): the
// same spec, key and policies as pipeline.Run, the same dataset layout,
// published the same atomic way, on any Beam runner (prism locally;
// Flink, Spark or Dataflow through their portable runners).
//
// The Beam pipeline is:
//
//	shards (pipeline.Split, on the launcher) ─► Reshuffle ─► processShard
//
// The launcher cuts the export into shards of whole records
// (pipeline.Split: byte ranges for CSV and NDJSON, found by a quote-aware
// scan; row-group ranges for Parquet). Each processShard call reads its
// shard with DuckDB through the pipeline's own source query
// (pipeline.ExternalPlan.ReadShard), so casts, consent, erasure and the
// CSV reader's rejects are decided by the same SQL as a local run; routes
// each row as Run does; applies every column's anonymize.Transform.Value
// to each value; and writes one data and one quarantine Parquet file with
// the pipeline's own writer (pipeline.Sink) into the run's temporary
// folder, plus a small JSON account of its counts. The launcher then adds
// the accounts up and publishes through pipeline.ExternalRun.Finish.
//
// Workers build the job from the spec and keyring files on their own
// disk: keys never travel in the pipeline graph. The export, the keyring
// and the data directory must therefore be at the same paths on every
// worker (a shared file system). A retried shard rewrites its own files,
// so a retry does not duplicate rows.
package beamjob
