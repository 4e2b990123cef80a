package policy

import "math"

// binTree holds the free space of a row of bins (agents, in the order first fit tries them) and finds
// the first bin with room for a task. Summing free space would hide fragmentation (15 free cpus spread
// over five agents do not hold one 4-cpu task); trying bins one by one is too slow at 10,000 agents. So
// the bins are the leaves of a segment tree whose nodes keep, per resource, the most free space of any
// bin below them: a subtree that cannot hold the task in some resource is skipped whole.
type binTree struct {
	leaves int         // capacity, a power of two
	n      int         // bins in use: leaves [0, n)
	max    []Resources // node 1 is the root; leaf i is node leaves+i
}

// noRoom is the free space of a bin that takes nothing, not even a task that asks for nothing.
var noRoom = Resources{-1, -1, -1, -1}

func newBinTree(capacity int) *binTree {
	leaves := 1
	for leaves < capacity {
		leaves *= 2
	}
	t := &binTree{leaves: leaves, max: make([]Resources, 2*leaves)}
	for i := range t.max {
		t.max[i] = noRoom
	}
	return t
}

// push appends a bin with the given free space and returns its index.
func (t *binTree) push(free Resources) int {
	if t.n == t.leaves {
		t.grow()
	}
	t.n++
	t.set(t.n-1, free)
	return t.n - 1
}

func (t *binTree) grow() {
	bigger := newBinTree(2 * t.leaves)
	for i := range t.n {
		bigger.max[bigger.leaves+i] = t.max[t.leaves+i]
	}
	for node := bigger.leaves - 1; node >= 1; node-- {
		bigger.max[node] = maxFree(bigger.max[2*node], bigger.max[2*node+1])
	}
	bigger.n = t.n
	*t = *bigger
}

// free returns bin i's free space.
func (t *binTree) free(i int) Resources { return t.max[t.leaves+i] }

// set changes bin i's free space.
func (t *binTree) set(i int, free Resources) {
	node := t.leaves + i
	t.max[node] = free
	for node /= 2; node >= 1; node /= 2 {
		m := maxFree(t.max[2*node], t.max[2*node+1])
		if m == t.max[node] {
			break // nothing above changes either
		}
		t.max[node] = m
	}
}

// firstFit returns the first bin at or after from with room for need, or -1.
func (t *binTree) firstFit(need Resources, from int) int {
	if from >= t.n {
		return -1
	}
	return t.search(1, 0, t.leaves, need, from)
}

func (t *binTree) search(node, lo, hi int, need Resources, from int) int {
	if hi <= from || lo >= t.n || !t.max[node].Fits(need) {
		return -1
	}
	if hi-lo == 1 {
		return lo
	}
	mid := (lo + hi) / 2
	if i := t.search(2*node, lo, mid, need, from); i >= 0 {
		return i
	}
	return t.search(2*node+1, mid, hi, need, from)
}

// place puts up to count tasks of size need into the bins, first fit from the left, filling each bin it
// picks as far as it goes; placed is called for every bin it uses. It returns how many it placed.
func (t *binTree) place(need Resources, count int, placed func(bin, n int)) int {
	done := 0
	for bin := t.firstFit(need, 0); bin >= 0 && done < count; bin = t.firstFit(need, bin+1) {
		// Tasks placed earlier only took space, so identical tasks never fit before this bin again.
		free := t.free(bin)
		k := min(count-done, copies(free, need))
		t.set(bin, free.Sub(need.Scale(float64(k))))
		done += k
		if placed != nil {
			placed(bin, k)
		}
	}
	return done
}

// copies returns how many tasks of size need fit in free (at least 1: the caller found a fit).
func copies(free, need Resources) int {
	n := math.MaxInt32
	for _, p := range [4][2]float64{{free.CPUs, need.CPUs}, {free.Mem, need.Mem}, {free.Disk, need.Disk}, {free.GPUs, need.GPUs}} {
		if p[1] > 0 {
			n = min(n, int((p[0]+fitEpsilon)/p[1]))
		}
	}
	return max(n, 1)
}

func maxFree(a, b Resources) Resources {
	return Resources{max(a.CPUs, b.CPUs), max(a.Mem, b.Mem), max(a.Disk, b.Disk), max(a.GPUs, b.GPUs)}
}
