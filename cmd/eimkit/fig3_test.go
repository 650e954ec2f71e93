package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/experiment"
	"github.com/eimkit/eimkit/vae"
)

// fig3Tiny are settings of the fig3 command that train two SNIS and two
// HIS runs of a tiny model for a few steps and evaluate a few images.
var fig3Tiny = []string{"-hidden", "8", "-latent", "2", "-energy-hidden", "4", "-steps", "20", "-batch", "16",
	"-eval-samples", "5", "-test-images", "20", "-eval-every", "10", "-valid-images", "16", "-valid-samples", "4",
	"-checkpoint-every", "5", "-K", "16,64", "-his-T", "1,2"}

// runFig3Cmd runs eimkit fig3 with args to its end and returns its exit
// status and stderr.
func runFig3Cmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd, stderr := eimkitCmd(t, append([]string{"fig3"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return exitStatus(t, cmd), stderr.String()
}

// TestFig3EndToEnd runs fig3 with tiny networks, checks its outputs (the
// figure, one entry per K and T with finite bounds and times, the
// tables, each run's own outputs), then runs it again and checks that
// every run is reused: no step retrained, the metrics logs and the
// numbers unchanged.
func TestFig3EndToEnd(t *testing.T) {
	dir := t.TempDir()
	args := append([]string{"-out", dir}, fig3Tiny...)
	code, stderr := runFig3Cmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, f := range []string{"fig3.png", "results.json", "results.md"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	res := readJSON[fig3Results](t, filepath.Join(dir, "results.json"))
	var got []string
	for _, p := range res.Points {
		got = append(got, p.Prior+"/"+p.label())
		if b, se := float64(p.TestBound), float64(p.TestBoundStdErr); math.IsNaN(b) || math.IsInf(b, 0) || b >= 0 || !(se >= 0) {
			t.Errorf("%s: test bound %v ± %v, want a finite negative number", p.label(), b, se)
		}
		if !(p.SecondsPerStep > 0) || !(p.MeanSecondsPerStep > 0) || math.IsInf(p.SecondsPerStep, 0) {
			t.Errorf("%s: %v (median), %v (mean) s per step, want positive", p.label(), p.SecondsPerStep, p.MeanSecondsPerStep)
		}
		if p.Run == nil || p.Run.Steps != 20 || p.Run.TestImages != 20 || p.Run.EvalSamples != 5 {
			t.Errorf("%s: run %+v, want 20 steps, 20 images, S = 5", p.label(), p.Run)
		}
		if first := p.count() == 16 || p.count() == 1; first && (p.DiffFirst != 0 || p.DiffFirstStdErr != 0 || p.DiffPrev != 0) {
			t.Errorf("%s: paired difference to itself %v ± %v", p.label(), p.DiffFirst, p.DiffFirstStdErr)
		}
		for _, f := range []string{"samples.png", "curves.png", "result.json", "eval.json", experiment.MetricsName, experiment.CheckpointName} {
			if _, err := os.Stat(filepath.Join(p.Dir, f)); err != nil {
				t.Error(err)
			}
		}
	}
	if want := []string{"snis/K = 16", "snis/K = 64", "his/T = 1", "his/T = 2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("points %v, want %v", got, want)
	}
	// The runs differ: K and T are in each run's settings.
	if res.Points[0].Run.Settings["K"] != "16" || res.Points[1].Run.Settings["K"] != "64" || res.Points[3].Run.Settings["his-T"] != "2" {
		t.Errorf("settings do not hold the run's K or T: %v, %v", res.Points[1].Run.Settings, res.Points[3].Run.Settings)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Points[1]; p.DiffPrev != p.DiffFirst || math.IsNaN(float64(p.DiffPrev)) {
		t.Errorf("K = 64: paired differences %v to K = 16 and %v to the previous K", p.DiffFirst, p.DiffPrev)
	}
	for _, s := range []string{"| K | test IWAE-5 (ours) |", "| 64 | ", "| T | test IWAE-5 (ours) |", "| 2 | ", "at the cost of additional computation"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("results.md lacks %q:\n%s", s, md)
		}
	}

	metrics := snapshotMetrics(t, dir)
	start := time.Now()
	code, stderr = runFig3Cmd(t, args...)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	if n := strings.Count(stderr, "reusing"); n != 4 || strings.Contains(stderr, "training for") {
		t.Errorf("second run reused %d of 4 runs:\n%s", n, stderr)
	}
	if after := snapshotMetrics(t, dir); !reflect.DeepEqual(after, metrics) {
		t.Errorf("the second run changed the metrics logs")
	}
	again := readJSON[fig3Results](t, filepath.Join(dir, "results.json"))
	for i, p := range again.Points {
		if q := res.Points[i]; p.TestBound != q.TestBound || p.SecondsPerStep != q.SecondsPerStep {
			t.Errorf("%s: second run %v, %v s; first %v, %v s", p.label(), p.TestBound, p.SecondsPerStep, q.TestBound, q.SecondsPerStep)
		}
	}
	t.Logf("second run (all reused) took %v", time.Since(start))

	// A refused invocation on the same -out changes nothing.
	before := snapshot(t, dir)
	if code, stderr := runFig3Cmd(t, append(args, "-K", "abc")...); code != 2 || strings.Contains(strings.TrimSpace(stderr), "\n") {
		t.Errorf("-K abc: exit %d, stderr %q; want exit 2 and one line", code, stderr)
	}
	if after := snapshot(t, dir); !reflect.DeepEqual(after, before) || !reflect.DeepEqual(snapshotMetrics(t, dir), metrics) {
		t.Errorf("a refused run changed the outputs: %v", diffKeys(before, after))
	}
}

// snapshotMetrics returns the content of every metrics log under dir.
func snapshotMetrics(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == experiment.MetricsName {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = string(b)
		}
		return nil
	})
	return out
}

// TestFig3FlagsRefused checks that bad K and T lists and out-of-range
// settings are usage errors, each reported in one line, and that the
// lists are sorted.
func TestFig3FlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-K", "0"}, {"-K", "abc"}, {"-K", "16,,64"}, {"-K", "16,16"}, {"-K", ""}, {"-his-T", "-1"}, {"-his-T", "2.5"},
		{"-K", "none", "-his-T", "none"}, {"-steps", "0"}, {"-eval-samples", "0"}, {"-test-images", "-1"}, {"-jobs", "0"},
		{"-hidden", "8,0"}, {"-lr", "NaN"}, {"-out", ""}, {"-prior", "snis"}, {"extra"},
	} {
		var buf bytes.Buffer
		_, err := parseFig3Flags(args, &buf)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
		if msg := strings.TrimSpace(buf.String()); msg == "" || strings.Contains(msg, "\n") {
			t.Errorf("%v: message %q, want one line", args, msg)
		}
	}
	f, err := parseFig3Flags([]string{"-K", "256, 16", "-his-T", "none"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Ks, []int{16, 256}) || len(f.Ts) != 0 || f.vc.K != 256 || len(f.vc.priors) != 1 {
		t.Errorf("-K 256,16 -his-T none: K %v, T %v, memory check at K = %d, priors %v", f.Ks, f.Ts, f.vc.K, f.vc.priors)
	}
	// The defaults: the paper's values, the vae command's settings.
	f, err = parseFig3Flags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := parseVAEFlags(nil, &bytes.Buffer{})
	if !reflect.DeepEqual(f.Ks, []int{16, 64, 256, 1024}) || !reflect.DeepEqual(f.Ts, []int{1, 2, 5, 10}) ||
		f.vc.steps != v.steps || f.vc.evalSamples != 1000 || !reflect.DeepEqual(f.vc.hidden, v.hidden) {
		t.Errorf("defaults: K %v, T %v, steps %d, S %d", f.Ks, f.Ts, f.vc.steps, f.vc.evalSamples)
	}
}

// TestFig3ProcessErrors checks that the binary refuses bad flags and
// settings the data cannot meet with one line and exit status 2, without
// creating or changing anything under -out.
func TestFig3ProcessErrors(t *testing.T) {
	for _, extra := range [][]string{{"-K", "0"}, {"-his-T", "abc"}, {"-test-images", "10001"}} {
		out := filepath.Join(t.TempDir(), "out")
		code, stderr := runFig3Cmd(t, append(append([]string{"-out", out}, fig3Tiny...), extra...)...)
		msg := strings.TrimSpace(stderr)
		if code != 2 || msg == "" || strings.Contains(msg, "\n") || strings.Contains(msg, "panic") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line", extra, code, msg)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: a refused run created %s", extra, out)
		}
	}
}

// TestFig3RunsAreVAERuns checks that a fig3 run is the vae command's run
// at its K or T: the same identity (so a vae run directory with the same
// settings is reused), and K and T in the identity of each.
func TestFig3RunsAreVAERuns(t *testing.T) {
	f, err := parseFig3Flags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := parseVAEFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	runs := f.runs()
	byName := map[string]*vaeRun{}
	for _, r := range runs {
		byName[r.name()] = r
	}
	for name, prior := range map[string]vae.PriorKind{"dynamic-mnist/snis-K1024": vae.SNIS, "dynamic-mnist/his-T5": vae.HIS} {
		r := byName[name]
		plain := &vaeRun{c: v, data: data.NameDynamicMNIST, prior: prior}
		if r == nil || !reflect.DeepEqual(r.identity(), plain.identity()) {
			t.Errorf("%s: identity differs from the vae command's %s run", name, prior)
			continue
		}
		// The model: the same but for the other prior's count, which
		// this prior does not use.
		got, want := r.modelConfig(), plain.modelConfig()
		if prior == vae.SNIS {
			got.HIST = want.HIST
		} else {
			got.K = want.K
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: model %+v, the vae command's %+v", name, got, want)
		}
	}
	if id := byName["dynamic-mnist/snis-K16"].identity(); id["K"] != "16" {
		t.Errorf("snis-K16: identity K = %q", id["K"])
	}
	if id := byName["dynamic-mnist/his-T10"].identity(); id["his-T"] != "10" {
		t.Errorf("his-T10: identity his-T = %q", id["his-T"])
	}
	if mc := byName["dynamic-mnist/his-T2"].modelConfig(); mc.HIST != 2 || mc.Prior != vae.HIS {
		t.Errorf("his-T2: model config %+v", mc)
	}
	if d := byName["dynamic-mnist/snis-K64"].dir; d != filepath.Join("results-fig3", "dynamic-mnist", "snis-K64") {
		t.Errorf("snis-K64: directory %s", d)
	}
}
