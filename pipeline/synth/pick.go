package synth

import "math/rand/v2"

// pickerBits is the resolution of a picker: weights are rounded to
// multiples of 1/2^pickerBits.
const pickerBits = 10

// picker draws an index with probability proportional to its weight in one
// random draw and one table lookup. It holds at most 256 choices.
type picker struct {
	table [1 << pickerBits]uint8
}

// newPicker returns a picker over weights. Every positive weight gets at
// least one slot, so rare choices still occur; zero weights never occur.
// It panics when no weight is positive or there are more than 256 weights:
// the tables are fixed at build time, so that is a programming error.
func newPicker(weights []int) *picker {
	const slots = 1 << pickerBits
	if len(weights) == 0 || len(weights) > 256 {
		panic("synth: picker needs 1 to 256 weights")
	}
	total, positive := 0, 0
	for _, w := range weights {
		total += w
		if w > 0 {
			positive++
		}
	}
	if positive == 0 {
		panic("synth: picker needs a positive weight")
	}

	// Give each positive weight one slot, then share the rest in
	// proportion, handing leftovers to the heaviest weights.
	counts := make([]int, len(weights))
	rest := slots - positive
	used := positive
	for i, w := range weights {
		if w > 0 {
			counts[i] = 1 + rest*w/total
			used += rest * w / total
		}
	}
	for used < slots {
		best := 0
		for i, w := range weights {
			if w > weights[best] {
				best = i
			}
		}
		counts[best]++
		used++
	}

	p := &picker{}
	at := 0
	for i, c := range counts {
		for range c {
			p.table[at] = uint8(i)
			at++
		}
	}
	return p
}

// pick draws one index.
func (p *picker) pick(r *rand.Rand) int {
	return int(p.table[r.Uint64()>>(64-pickerBits)])
}

// mix64 is the splitmix64 finalizer: a fast bijective scramble of 64 bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// key derives an independent 64-bit value from the seed, a stream salt and
// an index (a passenger or a row).
func key(seed, salt uint64, i uint64) uint64 {
	return mix64(mix64(seed^salt*0x9e3779b97f4a7c15) + i)
}

// permuteBits maps x < 2^bits to a distinct value < 2^bits chosen by k:
// for a fixed k and bits it is a bijection, so distinct inputs never
// collide. bits must be between 8 and 40.
func permuteBits(x, k uint64, bits uint) uint64 {
	mask := uint64(1)<<bits - 1
	half := bits / 2
	x = (x ^ k) & mask
	x = (x * 0x9e3779b97f4a7c15) & mask
	x ^= x >> half
	x = (x + k>>24) & mask
	x = (x * 0xd6e8feb86659fd93) & mask
	x ^= x >> (half - 1)
	x = (x * 0xa0761d6478bd642f) & mask
	x ^= x >> half
	return x
}
