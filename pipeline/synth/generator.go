package synth

import "math/rand/v2"

// generator produces the rows of one export, in order, as typed values
// (pax, bk) and as the text of each field (rec). The encoders read them
// after each call to next. It is not safe for concurrent use.
type generator struct {
	opts       Options
	assign     []uint32 // passenger of each row
	passengers int
	dirtyRows  int

	paxSrc *paxSource
	rows   *rand.Rand // booking attributes
	flaws  *rand.Rand // defects; drawn only in dirty exports
	refKey uint64

	pax passenger
	bk  booking
	rec record
}

// newGenerator lays out which passenger makes each booking. opts must be
// normalized. It holds 4 bytes per row.
func newGenerator(opts Options) *generator {
	g := &generator{
		opts:   opts,
		paxSrc: newPaxSource(opts.Seed, opts.Dirty),
		rows:   rand.New(rand.NewPCG(key(opts.Seed, saltRows, 0), key(opts.Seed, saltRows, 1))),
		flaws:  rand.New(rand.NewPCG(key(opts.Seed, saltDefects, 0), key(opts.Seed, saltDefects, 1))),
		refKey: key(opts.Seed, saltRef, 0),
	}

	// Passengers 0, 1, 2, … each take their drawn number of bookings
	// until the rows run out; the last one may get fewer.
	g.assign = make([]uint32, opts.Rows)
	at := 0
	for p := uint32(0); at < opts.Rows; p++ {
		n := min(bookingsOf(opts.Seed, p), opts.Rows-at)
		for j := range n {
			g.assign[at+j] = p
		}
		at += n
		g.passengers++
	}

	// Interleave the passengers' bookings (Fisher–Yates).
	shuffle := rand.New(rand.NewPCG(key(opts.Seed, saltShuffle, 0), key(opts.Seed, saltShuffle, 1)))
	for i := len(g.assign) - 1; i > 0; i-- {
		j := shuffle.Uint64N(uint64(i) + 1)
		g.assign[i], g.assign[j] = g.assign[j], g.assign[i]
	}
	return g
}

// next generates row i into pax, bk and rec. Rows must be generated in
// order 0, 1, 2, … for the output to be deterministic.
func (g *generator) next(i int) {
	if p := g.assign[i]; !g.pax.valid || g.pax.idx != p {
		g.paxSrc.derive(&g.pax, p)
	}
	g.bk.draw(g.rows, &g.pax)
	g.bk.ref = bookingRef(i, g.refKey)

	g.bk.defect = defectNone
	g.bk.keep = numCols
	if g.opts.Dirty {
		g.bk.spoil(g.flaws, &g.pax)
		if g.bk.defect != defectNone {
			g.dirtyRows++
		}
	}
	g.rec.render(&g.pax, &g.bk)
}

// stats reports what the rows generated so far amount to, assuming all
// opts.Rows of them were generated.
func (g *generator) stats() Stats {
	return Stats{Rows: g.opts.Rows, Passengers: g.passengers, DirtyRows: g.dirtyRows}
}
