// Package anonymize holds the column transforms that turn raw CRM values
// into pseudonymised, minimised ones, and the keyring their keys come from.
//
// Each Transform works on Arrow arrays batch by batch (Apply) and on single
// values (Value); both run the same code, so a job gives the same output on
// every engine. The transforms are:
//
//   - pseudonymize: HMAC-SHA256 under a named key, truncated to 128 bits and
//     base64url-encoded (22 characters). Deterministic per key; without the
//     key a token cannot be recomputed from a guessed value.
//   - encrypt: deterministic authenticated encryption (AES-SIV through
//     Tink, its key derived from the named key by HKDF-SHA256), written as
//     "enc1." and the base64url ciphertext. Tokens join like pseudonyms (the
//     associated data is fixed, not the column), and the key's holder can
//     Decrypt them, for audited re-identification; Reencrypt moves them to
//     a newer key.
//   - generalize: dates to year, month or age band; timestamps to day or
//     week; numbers to buckets.
//   - truncate: the first n characters (not bytes).
//   - mask: card numbers with at most the first six and last four digits in
//     clear (PCI DSS); e-mail addresses to their domain.
//   - keep: the value, with a declared type and optional public bounds.
//
// A value a transform cannot handle is reported to the caller with a
// reason that never contains the value, so the row can be quarantined.
//
// Keys live in a keyring file (JSON, mode 0600). Key values never appear in
// logs, errors or manifests: Key and Keyring redact themselves, and datasets
// record a key's ID, a fingerprint that reveals nothing of the secret.
package anonymize
