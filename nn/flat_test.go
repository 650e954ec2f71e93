package nn

import (
	"slices"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

func TestFlatRoundTrip(t *testing.T) {
	a := ad.New([]float64{1, 2, 3, 4}, 2, 2)
	b := ad.New([]float64{5}, 1)
	ts := []*ad.Tensor{a, b}
	if got := Flatten(ts); !slices.Equal(got, []float64{1, 2, 3, 4, 5}) {
		t.Fatalf("Flatten = %v", got)
	}
	SetFlat(ts, []float64{9, 8, 7, 6, 5.5})
	if !slices.Equal(a.Data(), []float64{9, 8, 7, 6}) || b.Data()[0] != 5.5 {
		t.Fatalf("SetFlat gave %v, %v", a.Data(), b.Data())
	}
	defer func() {
		if recover() == nil {
			t.Error("SetFlat with a wrong length did not panic")
		}
	}()
	SetFlat(ts, []float64{1})
}
