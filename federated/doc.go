// Package federated lets airline alliance partners release shared
// statistics, such as passengers per destination and cabin across the
// alliance, without any partner handing over records, and without the
// coordinator or the other partners learning any one partner's totals.
// It implements a pairwise-masked secure sum over a fixed roster, after
// Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving
// Machine Learning" (CCS 2017), simplified for 3 to 50 stable partners,
// with each partner adding a share of Gaussian noise so that the sum is
// differentially private.
//
// The package holds the protocol only: rounds, identities, the partner's
// side (Prepare) and the coordinator's (Coordinator). It knows nothing of
// HTTP routing or of how a partner computes its aggregate.
//
// # The protocol
//
// Each partner holds an Identity: an Ed25519 key pair to sign and an X25519
// key pair to agree on masks, kept in a 0600 file (Save, LoadIdentity).
// Its public half, a Partner, goes on the alliance's roster.
//
//  1. The coordinator opens a Round (Coordinator.Open): its roster, the
//     period, MinPartners, the budget (ε, δ), a deadline, and the
//     Statistic: aggregates (count, sum, people) over public group keys,
//     such as destination × cabin, with contribution bounds. Every partner
//     receives the same Round and checks it; Round.Hash binds all of it
//     into every message.
//  2. Each partner computes, outside this package, its exact aggregate of
//     every cell after enforcing the bounds, and calls Prepare. Prepare
//     encodes each value in fixed point as an integer mod 2^64 (with 12
//     extra binary digits), adds the partner's share of the noise, adds a
//     pairwise mask for every other roster partner, and signs. The masks
//     of the pair (i, j) are a ChaCha20 stream keyed by HKDF-SHA256 over
//     their X25519 shared secret, the round id and the round hash; i adds
//     it, j subtracts it. Each partner also sends, masked the same way, a
//     0/1 indicator per cell: 1 if it has at least one privacy unit there.
//  3. The coordinator accepts exactly one signed submission per partner
//     (Coordinator.Submit). When all roster partners have submitted, it
//     sums the vectors mod 2^64, where every mask cancels, leaving the sum
//     of the partners' noisy values and the number of partners
//     contributing to each cell. It suppresses the cells with fewer than
//     MinPartners contributors and publishes the others with 95%
//     intervals, keeping the signed submissions as the transcript
//     (Coordinator.Result).
//  4. If the deadline passes without every submission, the round is
//     aborted and releases nothing (Coordinator.Expire). It may be re-run
//     with the same roster under a new id; Open refuses a round of the
//     same dataset and period with another roster, so a period is never
//     released over a subset of the partners.
//
// # The noise
//
// The round's σ for each aggregate (Round.Sigmas) is the library's tight
// Gaussian calibration for (ε, δ) and the statistic's L2 sensitivity,
// all cells together. Each of the n roster partners adds Gaussian noise
// of variance σ²/n, drawn with the library's secure sampler (never
// math/rand), so that the sum carries variance σ², although no party ever
// adds noise to an exact total it can see.
//
// If every partner adds its share, the released cells are (ε, δ)-DP with
// respect to adding or removing one privacy unit of any one partner,
// provided each partner enforced the bounds. If only k of the n partners
// add their share honestly, the total noise variance is kσ²/n: the
// guarantee degrades to that of the Gaussian mechanism with σ·√(k/n),
// the (ε', δ) given by Round.HonestEpsilon(k). The same holds against a
// coalition of n−k partners, who know their own shares and can subtract
// them. Intervals assume every share was added.
//
// Each share is rounded to a multiple of 2^-12 of a fixed-point unit,
// and its σ must be at least 2^-8 of a unit (Round.Validate checks it), so
// the rounding moves a cell by at most n·2^-13 units and changes the
// distribution of the noise negligibly. The (ε, δ) statement is that of
// continuous Gaussian noise and neglects the rounding, as the library's
// own integer noise does.
//
// # Means
//
// A mean, such as the average fare per segment, is the ratio of a sum and
// a count released by the same round, cell by cell: post-processing that
// costs no privacy. This package releases the sum and the count with their
// intervals; it computes no interval for the ratio.
//
// # What each party learns
//
// The coordinator is honest but curious. It sees each submission, and
// every sum of fewer than all n submissions, as uniformly random vectors
// (computationally: the masks are ChaCha20 streams under keys it cannot
// derive). It learns the noisy totals, the exact number of partners
// contributing to each cell, who submitted and when, and nothing else.
//
// A partner learns the released result. It shares one mask stream with
// each other partner, so with the transcript it can remove its own masks
// from another partner's submission, but that submission stays masked by
// the streams of the n−2 other pairs.
//
// Colluding partners, with or without the coordinator, can unmask another
// partner's submission only if they hold every other partner's keys: n−1
// colluding partners (with the transcript or the coordinator) learn the
// last partner's noisy vector, including its contributor indicators and
// its suppressed cells; even without them, n−1 partners can subtract
// their own noisy vectors from the released totals. Fewer colluders learn
// only the sum of the honest partners' noisy vectors, which carries the
// honest partners' noise alone (see above). Two partners cannot unmask a
// third in a roster of four or more.
//
// # What is not guaranteed
//
//   - The contributor counts are revealed. The number of partners with at
//     least one privacy unit in each cell is released exactly, without
//     noise, for every cell, suppressed or not, and is not covered by the
//     DP guarantee: a partner with a single passenger in a cell reveals
//     that the cell is not empty for it. Partners who need to hide that
//     should set their indicators from public facts, such as the routes
//     they serve, rather than from their data.
//   - Inputs are not range-proven. A partner can submit any vector: false
//     totals skew the result without detection, and a partner who leaves
//     out its noise weakens the others' protection as stated above. Only
//     gross violations (a contributor count above n, a total far outside
//     what honest partners can reach) are detected, and abort the round
//     with ErrInconsistent, without saying who caused them.
//   - One dropout blocks the round. There is no secret sharing of mask
//     seeds to recover from a missing partner, as in Bonawitz et al.; the
//     round is aborted and re-run.
//   - Each Prepare draws fresh noise, and a coordinator colluding with the
//     other n−1 partners sees its noisy vector, released or not. Partners
//     must charge their own (ε, δ) for every submission they send, make
//     at most one per round id, and compare round hashes among themselves
//     to detect a coordinator that shows them different rounds.
//   - The privacy unit is a passenger within one partner's data. A person
//     who is a customer of several partners is a unit at each of them,
//     and is protected at the group-privacy level of that many units.
//   - The protection of the masks is computational: it rests on X25519,
//     HKDF-SHA256 and ChaCha20.
//
// # Errors
//
// Round and statistic parameters out of range are a *ParamError, matching
// ErrInvalidRound, that names the parameter by its JSON path. Submissions
// are refused with ErrUnknownRound, ErrUnknownPartner, ErrWrongHash,
// ErrMalformed, ErrBadSignature, ErrDuplicate, ErrLate or ErrClosed;
// Result returns ErrNotReady, ErrAborted or ErrInconsistent; Open returns
// ErrRoundExists, ErrPeriodTaken or ErrRosterChanged; LoadIdentity returns
// ErrInsecureFile or ErrBadIdentity. Error messages name rounds and
// partners but never hold keys or data values.
package federated
