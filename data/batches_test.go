package data

import (
	"slices"
	"testing"
)

// Each epoch deals disjoint batches of distinct indices; the steps are a
// function of (Seed, N, Size, step), so a fresh Batcher resumed at any step
// gives what a running one gives, and epochs and seeds differ.
func TestBatcher(t *testing.T) {
	const n, size = 103, 10
	b := &Batcher{N: n, Size: size, Seed: 42}
	if b.StepsPerEpoch() != 10 {
		t.Fatalf("StepsPerEpoch = %d, want 10", b.StepsPerEpoch())
	}
	var all [][]int
	for step, idx := range b.Steps(0, 30) {
		if len(idx) != size {
			t.Fatalf("step %d: %d indices", step, len(idx))
		}
		all = append(all, slices.Clone(idx))
	}
	for e := 0; e < 3; e++ {
		seen := make(map[int]bool)
		for _, idx := range all[10*e : 10*e+10] {
			for _, i := range idx {
				if i < 0 || i >= n || seen[i] {
					t.Fatalf("epoch %d: index %d out of range or repeated", e, i)
				}
				seen[i] = true
			}
		}
		if len(seen) != 100 {
			t.Errorf("epoch %d: %d distinct indices, want 100", e, len(seen))
		}
	}
	if slices.Equal(all[0], all[10]) {
		t.Error("epochs 0 and 1 begin with the same batch")
	}
	for _, step := range []int{29, 0, 17, 10} {
		fresh := &Batcher{N: n, Size: size, Seed: 42}
		if got := fresh.Indices(step); !slices.Equal(got, all[step]) {
			t.Errorf("resumed at step %d: %v, want %v", step, got, all[step])
		}
	}
	other := &Batcher{N: n, Size: size, Seed: 43}
	if slices.Equal(other.Indices(0), all[0]) {
		t.Error("seeds 42 and 43 give the same first batch")
	}
	if msg := panicMessage(func() { (&Batcher{N: 3, Size: 4}).Indices(0) }); msg == "" {
		t.Error("Size > N did not panic")
	}
}

func TestChunksRange(t *testing.T) {
	var got [][2]int
	for lo, hi := range Chunks(7, 3) {
		got = append(got, [2]int{lo, hi})
	}
	if want := [][2]int{{0, 3}, {3, 6}, {6, 7}}; !slices.Equal(got, want) {
		t.Errorf("Chunks(7, 3) = %v, want %v", got, want)
	}
	if r := Range(2, 5); !slices.Equal(r, []int{2, 3, 4}) {
		t.Errorf("Range(2, 5) = %v", r)
	}
}
