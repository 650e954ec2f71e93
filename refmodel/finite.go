package refmodel

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// Finite is a model with finite latent and observation spaces (see the
// package comment). Build it with NewFinite; the zero value is not usable.
type Finite struct {
	points   [][]float64 // m support points, dz each
	obs      [][]float64 // o observation points, dx each
	logPrior []float64   // [m], normalized
	logLik   [][]float64 // [m][o], each row normalized
	zIndex   map[string]int
	xIndex   map[string]int
}

// NewFinite returns the finite model with latent support points (m rows of
// dz), prior log weights logPrior (m entries, normalized here), observation
// points (o rows of dx) and log likelihoods logLik[j][i] ∝ log p(x_i | s_j)
// (each row normalized here). The slices are copied.
//
// It panics if the sizes do not fit, a point is repeated or not finite, a
// weight is NaN or +Inf, or a row of weights is all −Inf.
func NewFinite(points [][]float64, logPrior []float64, obs [][]float64, logLik [][]float64) *Finite {
	m, o := len(points), len(obs)
	if m == 0 || o == 0 || len(logPrior) != m || len(logLik) != m {
		panic(fmt.Sprintf("refmodel: NewFinite: %d points, %d prior weights, %d observations, %d likelihood rows", m, len(logPrior), o, len(logLik)))
	}
	f := &Finite{zIndex: map[string]int{}, xIndex: map[string]int{}}
	f.points = copyRows("points", points, f.zIndex)
	f.obs = copyRows("observations", obs, f.xIndex)
	f.logPrior = normalize("prior", logPrior)
	for j, row := range logLik {
		if len(row) != o {
			panic(fmt.Sprintf("refmodel: NewFinite: likelihood row %d has %d entries, want %d", j, len(row), o))
		}
		f.logLik = append(f.logLik, normalize(fmt.Sprintf("likelihood row %d", j), row))
	}
	return f
}

// FiniteExample returns the finite model used across the tests: four
// latent points on a line, three observations, a non-uniform prior and a
// likelihood that makes the posterior differ visibly from the prior.
func FiniteExample() *Finite {
	return NewFinite(
		[][]float64{{-1.5}, {-0.5}, {0.25}, {1.75}},
		[]float64{math.Log(0.1), math.Log(0.4), math.Log(0.3), math.Log(0.2)},
		[][]float64{{-1}, {0}, {1}},
		[][]float64{
			{math.Log(0.7), math.Log(0.2), math.Log(0.1)},
			{math.Log(0.3), math.Log(0.5), math.Log(0.2)},
			{math.Log(0.2), math.Log(0.3), math.Log(0.5)},
			{math.Log(0.05), math.Log(0.15), math.Log(0.8)},
		})
}

func copyRows(what string, rows [][]float64, index map[string]int) [][]float64 {
	d := len(rows[0])
	if d == 0 {
		panic(fmt.Sprintf("refmodel: NewFinite: %s of dimension 0", what))
	}
	out := make([][]float64, len(rows))
	for j, r := range rows {
		if len(r) != d {
			panic(fmt.Sprintf("refmodel: NewFinite: %s row %d has %d coordinates, want %d", what, j, len(r), d))
		}
		for _, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				panic(fmt.Sprintf("refmodel: NewFinite: %s row %d has coordinate %v", what, j, v))
			}
		}
		k := key(r)
		if i, dup := index[k]; dup {
			panic(fmt.Sprintf("refmodel: NewFinite: %s rows %d and %d are equal", what, i, j))
		}
		index[k] = j
		out[j] = append([]float64(nil), r...)
	}
	return out
}

func normalize(what string, lw []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range lw {
		if math.IsNaN(v) || math.IsInf(v, 1) {
			panic(fmt.Sprintf("refmodel: NewFinite: %s has weight %v", what, v))
		}
		mx = max(mx, v)
	}
	if math.IsInf(mx, -1) {
		panic(fmt.Sprintf("refmodel: NewFinite: %s is all -Inf", what))
	}
	s := 0.0
	for _, v := range lw {
		s += math.Exp(v - mx)
	}
	lse := mx + math.Log(s)
	out := make([]float64, len(lw))
	for i, v := range lw {
		out[i] = v - lse
	}
	return out
}

// key is an exact map key for a point, −0 read as +0.
func key(x []float64) string {
	b := make([]byte, 0, 8*len(x))
	for _, v := range x {
		u := math.Float64bits(v + 0)
		for range 8 {
			b = append(b, byte(u))
			u >>= 8
		}
	}
	return string(b)
}

// Dims returns (dx, dz).
func (f *Finite) Dims() (dx, dz int) { return len(f.obs[0]), len(f.points[0]) }

// Len returns m, the number of latent support points.
func (f *Finite) Len() int { return len(f.points) }

// NumObs returns o, the number of observation points.
func (f *Finite) NumObs() int { return len(f.obs) }

// Points returns the latent support as a new [m, dz] tensor (for
// eimfamily.NewDiscrete).
func (f *Finite) Points() *ad.Tensor { return rowsTensor(f.points) }

// Obs returns the observation points as a new [o, dx] tensor: the data
// set whose rows enumerate every possible x.
func (f *Finite) Obs() *ad.Tensor { return rowsTensor(f.obs) }

// LogPrior returns log p(s_j), j = 1..m (a copy).
func (f *Finite) LogPrior() []float64 { return append([]float64(nil), f.logPrior...) }

// LogLik returns log p(x_i | s_j) (a copy of row j).
func (f *Finite) LogLik(j int) []float64 { return append([]float64(nil), f.logLik[j]...) }

func rowsTensor(rows [][]float64) *ad.Tensor {
	d := len(rows[0])
	out := make([]float64, 0, len(rows)*d)
	for _, r := range rows {
		out = append(out, r...)
	}
	return ad.New(out, len(rows), d)
}

// ZIndex returns j such that z (length dz) is s_j, or −1 off the support.
func (f *Finite) ZIndex(z []float64) int {
	if j, ok := f.zIndex[key(z)]; ok {
		return j
	}
	return -1
}

// XIndex returns i such that x (length dx) is observation x_i, or −1.
func (f *Finite) XIndex(x []float64) int {
	if i, ok := f.xIndex[key(x)]; ok {
		return i
	}
	return -1
}

// xRows returns the observation index of each row of x ([n, dx]),
// panicking on a row that is no observation point.
func (f *Finite) xRows(who string, x *ad.Tensor) []int {
	dx, _ := f.Dims()
	checkData(who, x, dx)
	idx := make([]int, x.Dim(0))
	for r := range idx {
		idx[r] = f.XIndex(x.Data()[r*dx : (r+1)*dx])
		if idx[r] < 0 {
			panic(fmt.Sprintf("refmodel: %s: row %d of x, %v, is not an observation point", who, r, x.Data()[r*dx:(r+1)*dx]))
		}
	}
	return idx
}

// LogJoint returns log p(x, z) for x [n, dx] (rows observation points) and
// z [..., n, dz], shape [..., n]: −Inf where a row of z is off the
// support. The result is a constant (z is discrete). It panics if a row of
// x is not an observation point.
func (f *Finite) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	dx, dz := f.Dims()
	checkJoint("Finite.LogJoint", x, z, dx, dz)
	xi := f.xRows("Finite.LogJoint", x)
	n := len(xi)
	rows := z.Len() / dz
	out := make([]float64, rows)
	zd := z.Data()
	for r := range rows {
		j := f.ZIndex(zd[r*dz : (r+1)*dz])
		if j < 0 {
			out[r] = math.Inf(-1)
			continue
		}
		out[r] = f.logPrior[j] + f.logLik[j][xi[r%n]]
	}
	return ad.New(out, z.Shape()[:z.Rank()-1]...)
}

// LogEvidence returns log p(x) for each row of x ([n, dx]).
func (f *Finite) LogEvidence(x *ad.Tensor) []float64 {
	xi := f.xRows("Finite.LogEvidence", x)
	out := make([]float64, len(xi))
	for r, i := range xi {
		out[r] = f.logEvidence(i)
	}
	return out
}

func (f *Finite) logEvidence(i int) float64 {
	lj := make([]float64, len(f.points))
	for j := range lj {
		lj[j] = f.logPrior[j] + f.logLik[j][i]
	}
	return logSumExp(lj)
}

// LogPosterior returns log p(s_j | x) for each row of x ([n, dx]): [n][m].
func (f *Finite) LogPosterior(x *ad.Tensor) [][]float64 {
	xi := f.xRows("Finite.LogPosterior", x)
	out := make([][]float64, len(xi))
	for r, i := range xi {
		le := f.logEvidence(i)
		out[r] = make([]float64, len(f.points))
		for j := range f.points {
			out[r][j] = f.logPrior[j] + f.logLik[j][i] - le
		}
	}
	return out
}

// Sample draws n pairs (z, x) from the model, [n, dz] and [n, dx], as
// constants: for each pair z, then x given z.
func (f *Finite) Sample(rng *rand.Rand, n int) (z, x *ad.Tensor) {
	if n < 0 {
		panic(fmt.Sprintf("refmodel: Finite.Sample: n = %d", n))
	}
	dx, dz := f.Dims()
	zs, xs := make([]float64, 0, n*dz), make([]float64, 0, n*dx)
	for range n {
		j := draw(rng, f.logPrior)
		i := draw(rng, f.logLik[j])
		zs = append(zs, f.points[j]...)
		xs = append(xs, f.obs[i]...)
	}
	return ad.New(zs, n, dz), ad.New(xs, n, dx)
}

// draw returns an index with probability exp(lw[k]) (lw normalized).
func draw(rng *rand.Rand, lw []float64) int {
	u := rng.Float64()
	cum := 0.0
	last := 0
	for k, v := range lw {
		p := math.Exp(v)
		if p == 0 {
			continue
		}
		cum += p
		last = k
		if u < cum {
			return k
		}
	}
	return last
}

func logSumExp(v []float64) float64 {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = max(mx, x)
	}
	if math.IsInf(mx, -1) {
		return mx
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - mx)
	}
	return mx + math.Log(s)
}
