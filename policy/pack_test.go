package policy

import (
	"math/rand/v2"
	"testing"
)

// TestBinTreeMatchesLinearFirstFit checks the segment tree against trying every bin in order, through
// random sets, pushes (which grow the tree) and searches.
func TestBinTreeMatchesLinearFirstFit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func() Resources {
		return Resources{CPUs: float64(rng.IntN(9)) / 2, Mem: float64(rng.IntN(5) * 1024), Disk: float64(rng.IntN(3) * 100), GPUs: float64(rng.IntN(2))}
	}
	tree := newBinTree(3)
	var bins []Resources
	for step := range 5000 {
		switch op := rng.IntN(10); {
		case op < 2 || len(bins) == 0:
			r := random()
			if got := tree.push(r); got != len(bins) {
				t.Fatalf("step %d: push returned %d, want %d", step, got, len(bins))
			}
			bins = append(bins, r)
		case op < 5:
			i := rng.IntN(len(bins))
			r := random()
			if rng.IntN(5) == 0 {
				r = noRoom
			}
			tree.set(i, r)
			bins[i] = r
		default:
			need, from := random(), rng.IntN(len(bins)+1)
			want := -1
			for i := from; i < len(bins); i++ {
				if bins[i].Fits(need) {
					want = i
					break
				}
			}
			if got := tree.firstFit(need, from); got != want {
				t.Fatalf("step %d: firstFit(%v, %d) = %d, want %d", step, need, from, got, want)
			}
		}
	}
}

func TestBinTreePlace(t *testing.T) {
	// Five agents with 3.5 free cpus each hold five 3-cpu tasks, one each, not the 5.8 that the
	// sum of free space suggests.
	tree := newBinTree(8)
	for range 5 {
		tree.push(Resources{CPUs: 3.5, Mem: 8000})
	}
	var used []int
	if got := tree.place(Resources{CPUs: 3, Mem: 100}, 10, func(bin, n int) { used = append(used, bin, n) }); got != 5 {
		t.Errorf("placed %d, want 5", got)
	}
	if len(used) != 10 || used[0] != 0 || used[1] != 1 || used[8] != 4 {
		t.Errorf("bins used: %v", used)
	}
	// Small tasks fill a bin as far as it goes before the next one.
	tree = newBinTree(2)
	tree.push(Resources{CPUs: 4, Mem: 1000})
	tree.push(Resources{CPUs: 4, Mem: 1000})
	if got := tree.place(Resources{CPUs: 1, Mem: 300}, 7, nil); got != 6 {
		t.Errorf("placed %d, want 6 (3 per bin, by memory)", got)
	}
	if f := tree.free(0); f.CPUs != 1 || f.Mem != 100 {
		t.Errorf("bin 0 left with %v", f)
	}
	// Tasks that ask for nothing fit any bin, but never a bin taken out.
	tree.set(0, noRoom)
	tree.set(1, noRoom)
	if got := tree.place(Resources{}, 3, nil); got != 0 {
		t.Errorf("placed %d tasks on bins taken out", got)
	}
}
