package federated

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"

	"golang.org/x/crypto/chacha20"
)

// maskChunk is the number of uint64 masks drawn from a stream at a time.
const maskChunk = 1024

// addMasks adds to vals and contr partner self's pairwise masks with every
// other partner of r. For the pair (i, j) with i < j in roster order, both
// derive the same stream; i adds it and j subtracts it, so the masks of
// all pairs cancel in the sum of all partners' vectors, mod 2^64.
//
// The stream of a pair is ChaCha20 with a zero nonce under the key
//
//	HKDF-SHA256(secret: X25519(own private key, other's public key),
//	            salt:   the round hash (32 bytes),
//	            info:   "haze/federated/mask/v1", round id, name of i,
//	                    name of j, each as in the canonical encoding)
//
// which is unique to the pair and the round, so a nonce is never reused.
// Its first len(vals) 8-byte little-endian words mask vals, the next
// len(contr) mask contr.
func addMasks(id *Identity, r Round, roundHash string, self int, vals, contr []uint64) error {
	salt, err := hex.DecodeString(roundHash)
	if err != nil {
		return fmt.Errorf("decoding round hash: %w", err)
	}
	others := make([]int, 0, len(r.Roster)-1)
	for j := range r.Roster {
		if j != self {
			others = append(others, j)
		}
	}

	// The pairs are split among goroutines; each adds its masks to its own
	// vectors, added to vals and contr at the end (addition commutes).
	var mu sync.Mutex
	return parallel(len(others), func(lo, hi int) error {
		v, c := make([]uint64, len(vals)), make([]uint64, len(contr))
		buf := make([]byte, 8*maskChunk)
		for _, j := range others[lo:hi] {
			other := r.Roster[j]
			stream, err := pairStream(id, r.ID, salt, r.Roster[min(self, j)].Name,
				r.Roster[max(self, j)].Name, other)
			if err != nil {
				return fmt.Errorf("masking with partner %q: %w", other.Name, err)
			}
			applyMask(stream, buf, v, self < j)
			applyMask(stream, buf, c, self < j)
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range v {
			vals[i] += v[i]
		}
		for i := range c {
			contr[i] += c[i]
		}
		return nil
	})
}

// pairStream returns the ChaCha20 stream id shares with other for the
// pair named lo, hi in roster order.
func pairStream(id *Identity, roundID string, salt []byte, lo, hi string, other Partner) (
	*chacha20.Cipher, error) {
	pub, err := ecdh.X25519().NewPublicKey(other.DHKey)
	if err != nil {
		return nil, fmt.Errorf("partner key: %w", err)
	}
	// ECDH fails for low-order public keys, whose shared secret would be
	// zero and known to all.
	secret, err := id.dh.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("key agreement: %w", err)
	}

	var info bytes.Buffer
	c := canon{w: &info}
	c.str(maskTag)
	c.str(roundID)
	c.str(lo)
	c.str(hi)
	key, err := hkdf.Key(sha256.New, secret, salt, info.String(), chacha20.KeySize)
	if err != nil {
		return nil, fmt.Errorf("deriving mask key: %w", err)
	}
	return chacha20.NewUnauthenticatedCipher(key, make([]byte, chacha20.NonceSize))
}

// applyMask adds (or subtracts) the next len(v) words of stream to v.
func applyMask(stream *chacha20.Cipher, buf []byte, v []uint64, add bool) {
	for start := 0; start < len(v); start += maskChunk {
		part := v[start:min(start+maskChunk, len(v))]
		b := buf[:8*len(part)]
		clear(b)
		stream.XORKeyStream(b, b)
		for i := range part {
			m := binary.LittleEndian.Uint64(b[8*i:])
			if add {
				part[i] += m
			} else {
				part[i] -= m
			}
		}
	}
}
