package experiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/nn"
)

// toyRun is a small resumable run: least squares of y = 2x + 1 + noise on
// fresh draws each step, with a parameter pair (w, b), Adam, the random
// stream and a State (a running sum of the objectives) that all matter to
// the result.
type toyRun struct {
	*Run
	w, b *ad.Tensor
	sum  *sumState
	// failAt, if > 0, makes step failAt return objective bad.
	failAt int
	bad    float64
	// hook is called after every step with the step just taken.
	hook func(step int)
}

type sumState struct{ v float64 }

func (s *sumState) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%x", math.Float64bits(s.v)), nil
}
func (s *sumState) UnmarshalText(b []byte) error {
	var u uint64
	_, err := fmt.Sscanf(string(b), "%x", &u)
	s.v = math.Float64frombits(u)
	return err
}

func newToy(dir string, steps, every int) *toyRun {
	t := &toyRun{w: ad.New([]float64{0}, 1), b: ad.New([]float64{0}, 1), sum: &sumState{}}
	t.w.RequireGrad()
	t.b.RequireGrad()
	ps := new(nn.Params)
	ps.Add("w", t.w)
	ps.Add("b", t.b)
	pcg := Stream(1, "toy")
	rng := rand.New(pcg)
	opt := &nn.Adam{LR: 0.05}
	t.Run = &Run{
		Dir: dir, Identity: map[string]string{"model": "toy", "lr": "0.05"}, Steps: steps, CheckpointEvery: every,
		Params: ps, Adam: opt, RNG: pcg, State: t.sum,
		Step: func(_ context.Context, step int) (Metrics, error) {
			const n = 8
			xs, ys := make([]float64, n), make([]float64, n)
			for i := range xs {
				xs[i] = rng.NormFloat64()
				ys[i] = 2*xs[i] + 1 + 0.1*rng.NormFloat64()
			}
			pred := ad.Add(ad.Mul(ad.New(xs, n), t.w), t.b)
			loss := ad.Mean(ad.Square(ad.Sub(pred, ad.New(ys, n))))
			v := -loss.Item()
			opt.Step(ps.Tensors(), ad.Grad(loss, ps.Tensors()...))
			t.sum.v += v
			if t.failAt == step+1 {
				v = t.bad
			}
			if t.hook != nil {
				defer t.hook(step + 1)
			}
			return Metrics{Objective: v, Values: map[string]float64{"w": t.w.Data()[0]}}, nil
		},
	}
	return t
}

// state is everything a toy run's result consists of, bitwise.
func (t *toyRun) state(tb testing.TB) string {
	tb.Helper()
	pts, err := ReadMetrics(t.MetricsPath())
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	for _, p := range pts {
		fmt.Fprintf(&b, "%d %x %x\n", p.Step, math.Float64bits(p.Objective), math.Float64bits(p.Values["w"]))
	}
	rs, _ := t.RNG.MarshalBinary()
	m, v := t.Adam.Moments()
	fmt.Fprintf(&b, "w %x b %x sum %x rng %x m %v v %v", math.Float64bits(t.w.Data()[0]), math.Float64bits(t.b.Data()[0]),
		math.Float64bits(t.sum.v), rs, m, v)
	return b.String()
}

// TestResumeIsBitwise checks that a run interrupted (context cancelled)
// at several steps, and one whose process "died" after a checkpoint with
// more metrics lines written and a partial line, end bitwise where an
// uninterrupted run does.
func TestResumeIsBitwise(t *testing.T) {
	const steps = 30
	straight := newToy(t.TempDir(), steps, 4)
	if _, err := straight.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := straight.state(t)

	dir := t.TempDir()
	for _, stopAt := range []int{1, 7, 8, 19} {
		r := newToy(dir, steps, 4)
		ctx, cancel := context.WithCancel(context.Background())
		r.hook = func(step int) {
			if step == stopAt {
				cancel()
			}
		}
		_, err := r.Train(ctx)
		cancel()
		if !errors.Is(err, ErrInterrupted) {
			t.Fatalf("stop at %d: %v, want ErrInterrupted", stopAt, err)
		}
		if got, _ := r.StepsDone(); got != stopAt {
			t.Fatalf("stop at %d: checkpoint at step %d", stopAt, got)
		}
	}
	// A kill after the checkpoint of step 19: lines past it and a cut line.
	f, err := os.OpenFile(filepath.Join(dir, MetricsName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step":20,"objective":-9,"seconds":1}` + "\n" + `{"step":21,"obj`)
	f.Close()
	r := newToy(dir, steps, 4)
	rec, err := r.Train(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Steps != steps || rec.From != 19 || len(rec.Points) != steps {
		t.Errorf("record: %d steps from %d, %d points", rec.Steps, rec.From, len(rec.Points))
	}
	if got := r.state(t); got != want {
		t.Errorf("resumed run differs from the straight one:\n%s\n%s", got, want)
	}
	// Trained again, a finished run does nothing and keeps its record.
	again := newToy(dir, steps, 4)
	again.hook = func(int) { t.Error("a finished run took a step") }
	if rec, err := again.Train(context.Background()); err != nil || rec.Steps != steps {
		t.Errorf("finished run: %v, %+v", err, rec)
	}
	if got := again.state(t); got != want {
		t.Errorf("reloaded finished run differs")
	}
	// Continued to more steps, it goes on from the checkpoint.
	more := newToy(dir, steps+5, 4)
	if rec, err := more.Train(context.Background()); err != nil || rec.From != steps || rec.Steps != steps+5 {
		t.Errorf("continued run: %v, %+v", err, rec)
	}
}

// TestNonFiniteStopsTheRun checks that a NaN or ±Inf objective, named
// value or parameter ends the run with an error naming the step and the
// quantity, and leaves the last good checkpoint as it was.
func TestNonFiniteStopsTheRun(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(r *toyRun)
		want string
	}{
		{"objective NaN", func(r *toyRun) { r.failAt, r.bad = 6, math.NaN() }, "the objective is NaN after step 6"},
		{"objective -Inf", func(r *toyRun) { r.failAt, r.bad = 6, math.Inf(-1) }, "the objective is -Inf after step 6"},
		{"parameter", func(r *toyRun) {
			r.hook = func(step int) {
				if step == 6 {
					r.b.Data()[0] = math.Inf(1)
				}
			}
		}, "parameter b (entry 0) is +Inf after step 6"},
	} {
		dir := t.TempDir()
		r := newToy(dir, 10, 4)
		c.set(r)
		_, err := r.Train(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
			continue
		}
		if got, _ := r.StepsDone(); got != 4 {
			t.Errorf("%s: checkpoint at step %d, want the last good one, 4", c.name, got)
		}
		pts, _ := ReadMetrics(r.MetricsPath())
		// Lines past the checkpoint may be on disk; a resume drops them.
		rec, err := newToy(dir, 10, 4).Record()
		if err != nil || rec.Steps != 4 || len(rec.Points) != 4 || len(pts) < 4 {
			t.Errorf("%s: record after the failure: %v, %+v", c.name, err, rec)
		}
	}
}

// TestIdentityMismatchIsRefused checks that a checkpoint is continued
// only with the same identity, and never backwards past its step.
func TestIdentityMismatchIsRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := newToy(dir, 6, 0).Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := newToy(dir, 6, 0)
	r.Identity["lr"] = "0.1"
	if _, err := r.Train(context.Background()); err == nil || !strings.Contains(err.Error(), "lr 0.05, now 0.1") {
		t.Errorf("other lr: %v", err)
	}
	if _, err := newToy(dir, 3, 0).Train(context.Background()); err == nil || !strings.Contains(err.Error(), "past -steps 3") {
		t.Errorf("fewer steps: %v", err)
	}
	// A damaged checkpoint is an error naming the run, not a panic.
	os.WriteFile(filepath.Join(dir, CheckpointName), []byte("junk"), 0o644)
	if _, err := newToy(dir, 6, 0).Train(context.Background()); err == nil || !errors.Is(err, nn.ErrCorrupt) {
		t.Errorf("corrupt checkpoint: %v", err)
	}
}

// TestDoInterruptedDuringEval checks that cancelling during Eval gives
// ErrInterrupted with training saved.
func TestDoInterruptedDuringEval(t *testing.T) {
	r := newToy(t.TempDir(), 5, 0)
	ctx, cancel := context.WithCancel(context.Background())
	r.Eval = func(ctx context.Context, rec *Record) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	if _, err := r.Do(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Do: %v, want ErrInterrupted", err)
	}
	if got, _ := r.StepsDone(); got != 5 {
		t.Errorf("checkpoint at %d, want 5", got)
	}
}

// TestLock checks that a second OpenDir of a held directory is refused
// with the holder named, that Close releases it, and that a lock file
// left by a dead process is taken over and reported.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock(2) locks belong to open file descriptions, so a second open
	// in this process conflicts as another process would.
	_, err = OpenDir(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second OpenDir: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	d.Close()
	d2, err := OpenDir(dir)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if d2.Stale != "" {
		t.Errorf("a cleanly closed lock was reported stale: %q", d2.Stale)
	}
	d2.Close()
	// A killed holder leaves its record in the file but no flock.
	os.WriteFile(filepath.Join(dir, LockName), []byte("pid 999999\ncommand eimkit synthetic -out x\nstarted 2026-01-01T00:00:00Z\n"), 0o644)
	d3, err := OpenDir(dir)
	if err != nil {
		t.Fatalf("stale lock: %v", err)
	}
	defer d3.Close()
	if !strings.Contains(d3.Stale, "pid 999999 (eimkit synthetic -out x") {
		t.Errorf("stale lock reported as %q", d3.Stale)
	}
	b, _ := os.ReadFile(filepath.Join(dir, LockName))
	if !bytes.Contains(b, fmt.Appendf(nil, "pid %d\n", os.Getpid())) {
		t.Errorf("lock file after take-over: %q", b)
	}
}

// TestLeftoverTempFilesRemoved checks that OpenDir removes the temporary
// files of interrupted atomic writes (a kill -9 between create and
// rename) in the directory and its run directories, and nothing else.
func TestLeftoverTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "snis-two-rings")
	deep := filepath.Join(run, "a", "b")
	os.MkdirAll(deep, 0o755)
	leftovers := []string{
		filepath.Join(dir, ".results.json.tmp123"),
		filepath.Join(run, ".checkpoint.bin.tmp4567"),
	}
	keep := []string{
		filepath.Join(run, "checkpoint.bin"),
		filepath.Join(run, "notes.tmp"),
		filepath.Join(deep, ".x.tmp1"), // deeper than a run directory's subdirectory: not ours
	}
	for _, p := range append(slices.Clone(leftovers), keep...) {
		os.WriteFile(p, []byte("x"), 0o644)
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !slices.Equal(slices.Sorted(slices.Values(d.Removed)), slices.Sorted(slices.Values(leftovers))) {
		t.Errorf("removed %v, want %v", d.Removed, leftovers)
	}
	for _, p := range leftovers {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed", p)
		}
	}
}

// TestWriteFileKeepsOldContentOnError checks that a failed write leaves
// the old file and no temporary file.
func TestWriteFileKeepsOldContentOnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "results.json")
	if err := WriteString(p, "old\n"); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(p, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return errors.New("disk on fire")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if b, _ := os.ReadFile(p); string(b) != "old\n" {
		t.Errorf("content after a failed write: %q", b)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("directory after a failed write: %v", es)
	}
}

// TestParallelFirstErrorStopsTheRest checks that the first error cancels
// the other calls and is returned, and that a cancelled parent gives
// ErrInterrupted.
func TestParallelFirstErrorStopsTheRest(t *testing.T) {
	boom := errors.New("boom")
	started := make([]bool, 10)
	err := Parallel(context.Background(), 1, Seq(10), func(ctx context.Context, i int) error {
		started[i] = true
		if i == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || started[3] {
		t.Errorf("error %v, started %v", err, started)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Parallel(ctx, 2, Seq(3), func(context.Context, int) error { return nil }); !errors.Is(err, ErrInterrupted) {
		t.Errorf("cancelled parent: %v", err)
	}
}

// TestCheckMemory checks the refusal of an impossible need and that a
// small one passes.
func TestCheckMemory(t *testing.T) {
	avail, src, ok := Available()
	if !ok {
		t.Skip("no memory information on this system")
	}
	if avail == 0 || src == "" {
		t.Errorf("Available: %d from %q", avail, src)
	}
	if err := CheckMemory(1<<20, "a small run"); err != nil {
		t.Errorf("1 MB: %v", err)
	}
	err := CheckMemory(1<<62, "eimkit synthetic with -K 100000000")
	if !errors.Is(err, ErrTooBig) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "-K 100000000") {
		t.Errorf("huge: %v", err)
	}
}
