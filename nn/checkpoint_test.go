package nn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// run is a small training run: an MLP fitted by Adam to a smooth function
// on minibatches drawn from the run's own PCG stream.
type run struct {
	mlp *MLP
	ps  *Params
	opt *Adam
	pcg *rand.PCG
	rng *rand.Rand
}

// newRun builds the run's objects; seed changes the initial weights and
// the stream, as a fresh process that is about to Load would.
func newRun(seed uint64, sizes ...int) *run {
	init := rand.New(rand.NewPCG(seed, 100))
	r := &run{
		mlp: NewMLP(init, sizes...),
		ps:  new(Params),
		opt: &Adam{LR: 0.01, Schedule: PiecewiseConstant([]int{7, 15}, []float64{1, 0.5, 0.25})},
		pcg: rand.NewPCG(seed, 200),
	}
	r.rng = rand.New(r.pcg)
	r.ps.Add("mlp", r.mlp.Params()...)
	r.ps.Add("scale", ad.Scalar(1).RequireGrad())
	return r
}

// train takes n steps on minibatches of 8 points x ~ N(0, I) with target
// y = sin(x₁)·x₂, loss mean (scale·f(x) − y)².
func (r *run) train(n int) {
	in := r.mlp.Layers[0].In()
	for range n {
		x := ad.Randn(r.rng, 8, in)
		xd := x.Data()
		y := make([]float64, 8)
		for i := range y {
			y[i] = math.Sin(xd[i*in]) * xd[i*in+in-1]
		}
		pred := ad.Mul(ad.Reshape(r.mlp.Forward(x), 8), r.ps.Get("scale"))
		loss := ad.Mean(ad.Square(ad.Sub(pred, ad.New(y, 8))))
		ts := r.ps.Tensors()
		r.opt.Step(ts, ad.Grad(loss, ts...))
	}
}

func (r *run) checkpoint(meta map[string]string) *Checkpoint {
	return &Checkpoint{Step: r.opt.StepCount(), Params: r.ps, Adam: r.opt, RNG: r.pcg, Meta: meta}
}

// state is a bitwise snapshot of everything a Checkpoint points to.
type state struct {
	step           int
	meta           map[string]string
	params         [][]float64
	lr, b1, b2, e  float64
	adamStep       int
	m, v           [][]float64
	rng            []byte
	hasAdam, hasPs bool
}

func snapshot(c *Checkpoint) state {
	s := state{step: c.Step, meta: maps.Clone(c.Meta)}
	if c.Params != nil {
		s.hasPs = true
		for _, t := range c.Params.Tensors() {
			s.params = append(s.params, slices.Clone(t.Data()))
		}
	}
	if a := c.Adam; a != nil {
		s.hasAdam = true
		s.lr, s.b1, s.b2, s.e = a.LR, a.Beta1, a.Beta2, a.Eps
		s.adamStep = a.StepCount()
		s.m, s.v = a.Moments()
	}
	if c.RNG != nil {
		s.rng, _ = c.RNG.MarshalBinary()
	}
	return s
}

func f64bits(x float64) uint64 { return math.Float64bits(x) }

// diff returns "" if a and b are bitwise equal, else what differs.
func (a state) diff(b state) string {
	switch {
	case a.step != b.step:
		return "Step"
	case !maps.Equal(a.meta, b.meta):
		return "Meta"
	case len(a.params) != len(b.params):
		return "number of parameters"
	case a.hasAdam != b.hasAdam || a.hasPs != b.hasPs:
		return "presence"
	case f64bits(a.lr) != f64bits(b.lr) || f64bits(a.b1) != f64bits(b.b1) ||
		f64bits(a.b2) != f64bits(b.b2) || f64bits(a.e) != f64bits(b.e):
		return "Adam hyperparameters"
	case a.adamStep != b.adamStep:
		return "Adam step"
	case len(a.m) != len(b.m) || (a.m == nil) != (b.m == nil):
		return "Adam moment count"
	case !bytes.Equal(a.rng, b.rng):
		return "RNG state"
	}
	for i := range a.params {
		if !bitsEqual(a.params[i], b.params[i]) {
			return "parameter values"
		}
	}
	for i := range a.m {
		if !bitsEqual(a.m[i], b.m[i]) || !bitsEqual(a.v[i], b.v[i]) {
			return "Adam moments"
		}
	}
	return ""
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.bin")
	src := newRun(1, 2, 5, 1)
	src.train(9)
	// Special values must survive too.
	src.ps.Get("mlp.1").Data()[0] = math.Copysign(0, -1)
	src.ps.Get("mlp.1").Data()[1] = math.Inf(-1)
	src.ps.Get("mlp.1").Data()[2] = math.Float64frombits(0x7ff8_0000_dead_beef) // NaN with a payload
	src.ps.Get("mlp.1").Data()[3] = math.SmallestNonzeroFloat64
	meta := map[string]string{"model": "snis", "target": "nine-gaussians", "": "empty key", "utf8": "∇ₓU"}
	c := src.checkpoint(meta)
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	want := snapshot(c)

	dst := newRun(2, 2, 5, 1)
	dst.opt.LR = 0.5 // overwritten by Load
	dc := dst.checkpoint(nil)
	if d := snapshot(dc).diff(want); d == "" {
		t.Fatal("fresh objects already equal the saved ones")
	}
	if err := Load(path, dc); err != nil {
		t.Fatal(err)
	}
	if d := snapshot(dc).diff(want); d != "" {
		t.Fatalf("after Load, %s differ from the saved state", d)
	}
	if dc.Step != 9 || dst.opt.StepCount() != 9 {
		t.Errorf("Step %d, Adam step %d; want 9, 9", dc.Step, dst.opt.StepCount())
	}
	// The restored stream continues the saved one.
	if a, b := src.rng.Uint64(), dst.rng.Uint64(); a != b {
		t.Errorf("RNG continues with %x, want %x", b, a)
	}

	// Nil sections are skipped on both sides.
	bare := &Checkpoint{Step: 3}
	if err := Save(path, bare); err != nil {
		t.Fatal(err)
	}
	got := &Checkpoint{}
	if err := Load(path, got); err != nil {
		t.Fatal(err)
	}
	if got.Step != 3 || len(got.Meta) != 0 {
		t.Errorf("bare checkpoint: Step %d, Meta %v", got.Step, got.Meta)
	}
	// A file without a section cannot fill a caller's object.
	before := snapshot(dc)
	if err := Load(path, dc); !errors.Is(err, ErrMismatch) {
		t.Errorf("Load of a file without parameters into Params: %v, want ErrMismatch", err)
	}
	if d := snapshot(dc).diff(before); d != "" {
		t.Errorf("a failed Load changed %s", d)
	}

	// Adam before its first step round-trips as such.
	fresh := &Checkpoint{Adam: &Adam{}}
	if err := Save(path, fresh); err != nil {
		t.Fatal(err)
	}
	into := &Checkpoint{Adam: dst.opt}
	if err := Load(path, into); err != nil {
		t.Fatal(err)
	}
	if dst.opt.StepCount() != 0 || dst.opt.m != nil || dst.opt.LR != 0 {
		t.Errorf("Load of a fresh Adam: step %d, LR %v", dst.opt.StepCount(), dst.opt.LR)
	}
}

// TestResume: 2N uninterrupted steps, against N steps, Save, a fresh set
// of objects (other weights, other stream), Load and N more steps. The
// final parameters, moments and streams are bitwise equal. The schedule's
// boundaries fall on both sides of the break.
func TestResume(t *testing.T) {
	const n = 10
	path := filepath.Join(t.TempDir(), "run.ckpt")

	whole := newRun(1, 2, 8, 8, 1)
	whole.train(2 * n)

	first := newRun(1, 2, 8, 8, 1)
	first.train(n)
	if err := Save(path, first.checkpoint(map[string]string{"run": "first"})); err != nil {
		t.Fatal(err)
	}
	second := newRun(99, 2, 8, 8, 1)
	c := second.checkpoint(nil)
	if err := Load(path, c); err != nil {
		t.Fatal(err)
	}
	if c.Step != n || c.Meta["run"] != "first" {
		t.Fatalf("loaded Step %d, Meta %v", c.Step, c.Meta)
	}
	second.train(n)

	if d := snapshot(second.checkpoint(nil)).diff(snapshot(whole.checkpoint(nil))); d != "" {
		t.Fatalf("resumed run differs from the uninterrupted one in %s", d)
	}
}

// smallFile returns the bytes of a small valid checkpoint and a checkpoint
// of the same layout holding a different state, to load into.
func smallFile(t testing.TB) ([]byte, func() *Checkpoint) {
	path := filepath.Join(t.TempDir(), "small.ckpt")
	src := newRun(1, 2, 2, 1)
	src.train(3)
	if err := Save(path, src.checkpoint(map[string]string{"k": "v"})); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	target := func() *Checkpoint {
		r := newRun(7, 2, 2, 1)
		r.train(1)
		return r.checkpoint(map[string]string{"mine": "yes"})
	}
	return b, target
}

// checkRejected loads b into a fresh target and fails unless Load returns
// an error wrapping want and leaves the target bitwise unchanged.
func checkRejected(t *testing.T, what string, b []byte, target func() *Checkpoint, want error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.ckpt")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c := target()
	before := snapshot(c)
	err := Load(path, c)
	if err == nil {
		t.Fatalf("%s: Load succeeded", what)
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %q does not wrap %q", what, err, want)
	}
	if d := snapshot(c).diff(before); d != "" {
		t.Fatalf("%s: the failed Load changed %s", what, d)
	}
}

// reseal recomputes the body length and checksum of a modified file.
func reseal(b []byte) []byte {
	b = slices.Clone(b)
	binary.LittleEndian.PutUint64(b[12:], uint64(len(b)-headerLen-trailerLen))
	n := len(b) - trailerLen
	binary.LittleEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
	return b
}

func TestLoadRejects(t *testing.T) {
	good, target := smallFile(t)
	t.Logf("small checkpoint: %d bytes", len(good))

	// The file is good to begin with.
	c := target()
	path := filepath.Join(t.TempDir(), "good.ckpt")
	os.WriteFile(path, good, 0o644)
	if err := Load(path, c); err != nil {
		t.Fatalf("good file: %v", err)
	}

	checkRejected(t, "empty", nil, target, ErrCorrupt)
	for n := 1; n < len(good); n++ {
		checkRejected(t, "truncated", good[:n], target, ErrCorrupt)
	}
	checkRejected(t, "extended", append(slices.Clone(good), 0), target, ErrCorrupt)
	for i := range good {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := slices.Clone(good)
			b[i] ^= mask
			checkRejected(t, "flipped byte", b, target, ErrCorrupt)
		}
	}
	wrong := slices.Clone(good)
	copy(wrong, "NOTACKPT")
	checkRejected(t, "wrong magic", wrong, target, ErrCorrupt)
	checkRejected(t, "text", []byte("EIMKIT checkpoint, honest\n"), target, ErrCorrupt)

	v2 := slices.Clone(good)
	binary.LittleEndian.PutUint32(v2[8:], 2)
	checkRejected(t, "future version", reseal(v2), target, ErrCorrupt)

	// Sound files that do not fit the caller's objects.
	other := func(sizes ...int) func() *Checkpoint {
		return func() *Checkpoint { return newRun(5, sizes...).checkpoint(nil) }
	}
	checkRejected(t, "other shapes", good, other(2, 3, 1), ErrMismatch)
	checkRejected(t, "more layers", good, other(2, 2, 2, 1), ErrMismatch)
	renamed := func() *Checkpoint {
		r := newRun(5, 2, 2, 1)
		var ps Params
		ps.Add("net", r.mlp.Params()...)
		ps.Add("scale", r.ps.Get("scale"))
		r.ps = &ps
		return r.checkpoint(nil)
	}
	checkRejected(t, "other names", good, renamed, ErrMismatch)

	// Malformed bodies behind a valid checksum.
	body := good[headerLen : len(good)-trailerLen]
	wrap := func(body []byte) []byte {
		b := append(append(slices.Clone(good[:headerLen]), body...), 0, 0, 0, 0)
		return reseal(b)
	}
	checkRejected(t, "body cut short", wrap(body[:len(body)-1]), target, ErrCorrupt)
	checkRejected(t, "body with a trailing byte", wrap(append(slices.Clone(body), 0)), target, ErrCorrupt)
	// Adam moments that do not fit the parameters (Save refuses to write
	// them, so the file is encoded directly).
	misfit := newRun(1, 2, 2, 1)
	misfit.train(1)
	misfit.opt.m, misfit.opt.v = misfit.opt.m[:2], misfit.opt.v[:2]
	checkRejected(t, "Adam state for other parameters", encodeCheckpoint(misfit.checkpoint(nil)), target, ErrMismatch)
	mustPanic(t, func() { Save(filepath.Join(t.TempDir(), "x"), misfit.checkpoint(nil)) },
		"nn: Save: the optimizer state has 2 moments for 5 parameter tensors")

	huge := slices.Clone(body)
	binary.LittleEndian.PutUint32(huge[8:], math.MaxUint32) // meta count
	checkRejected(t, "huge meta count", wrap(huge), target, ErrCorrupt)
}

func TestSaveLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.ckpt")
	r := newRun(1, 2, 3, 1)
	for range 3 { // the first Save creates, later ones replace
		r.train(1)
		if err := Save(path, r.checkpoint(nil)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "a.ckpt" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want [a.ckpt]", names)
	}
	c := newRun(2, 2, 3, 1).checkpoint(nil)
	if err := Load(path, c); err != nil || c.Step != 3 {
		t.Fatalf("Load of the last Save: step %d, %v", c.Step, err)
	}

	// A directory that does not exist.
	if err := Save(filepath.Join(dir, "missing", "a.ckpt"), r.checkpoint(nil)); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
	// A path that is a directory: the rename fails after the temporary
	// file was written, which must then be removed.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Save(sub, r.checkpoint(nil)); err == nil {
		t.Error("Save over a non-empty directory succeeded")
	}
	entries, _ = os.ReadDir(dir)
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("after failed Saves the directory holds %v, want [a.ckpt sub]", names)
	}
	if err := Load(filepath.Join(dir, "nope"), c); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want an error wrapping os.ErrNotExist", err)
	}
}

// FuzzLoad feeds arbitrary bytes to Load's decoder: it must never panic,
// and on an error it must leave the caller's objects unchanged.
func FuzzLoad(f *testing.F) {
	good, target := smallFile(f)
	f.Add(good)
	f.Add([]byte{})
	f.Add(good[:len(good)/2])
	f.Add([]byte(ckptMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzOne(t, b, target)
	})
}

// FuzzLoadBody fuzzes the body behind a valid header and checksum, so the
// parser itself is exercised rather than the checksum test.
func FuzzLoadBody(f *testing.F) {
	good, target := smallFile(f)
	f.Add(good[headerLen : len(good)-trailerLen])
	f.Add([]byte{})
	bare := encodeCheckpoint(&Checkpoint{Step: 1, Meta: map[string]string{"a": "b"}})
	f.Add(bare[headerLen : len(bare)-trailerLen])
	f.Fuzz(func(t *testing.T, body []byte) {
		b := append(append([]byte(ckptMagic), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), body...)
		b = reseal(append(b, 0, 0, 0, 0))
		fuzzOne(t, b, target)
	})
}

func fuzzOne(t *testing.T, b []byte, target func() *Checkpoint) {
	c := target()
	before := snapshot(c)
	if err := loadBytes(b, c); err != nil {
		if d := snapshot(c).diff(before); d != "" {
			t.Fatalf("failed load (%v) changed %s", err, d)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrMismatch) {
			t.Fatalf("error %v wraps neither ErrCorrupt nor ErrMismatch", err)
		}
	}
}
