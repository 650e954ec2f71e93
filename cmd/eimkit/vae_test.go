package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/experiment"
)

// vaeTiny are settings of the vae command that train every prior for a
// few fast steps of a tiny model and evaluate a few images.
var vaeTiny = []string{"-hidden", "8", "-energy-hidden", "8", "-latent", "2", "-K", "16", "-trs-T", "16", "-lars-T", "8",
	"-his-T", "2", "-steps", "30", "-batch", "16", "-eval-samples", "4", "-test-images", "16", "-valid-images", "16",
	"-valid-samples", "4", "-eval-every", "10", "-lars-z-draws", "1000", "-valid-lars-z-draws", "1000", "-checkpoint-every", "5"}

// runVAECmd runs eimkit vae with args (and env added to the environment)
// to its end and returns its exit status and stderr.
func runVAECmd(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd, stderr := eimkitCmd(t, append([]string{"vae"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return exitStatus(t, cmd), stderr.String()
}

// TestVAEFlagsRefused checks that out-of-range and malformed settings are
// usage errors, each reported in one line.
func TestVAEFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-prior", "gauss"}, {"-data", "mnist"}, {"-hidden", "300,0"}, {"-energy-hidden", "x"}, {"-anneal-frac", "1.5"},
		{"-drop-frac", "0"}, {"-lr", "NaN"}, {"-drop-lr", "-1"}, {"-steps", "0"}, {"-eval-samples", "0"}, {"-test-images", "-1"},
		{"-jobs", "0"}, {"-out", ""}, {"-K", "0"}, {"-valid-images", "0"}, {"extra"},
	} {
		var buf bytes.Buffer
		_, err := parseVAEFlags(args, &buf)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
		if msg := strings.TrimSpace(buf.String()); msg == "" || strings.Contains(msg, "\n") {
			t.Errorf("%v: message %q, want one line", args, msg)
		}
	}
	c, err := parseVAEFlags([]string{"-prior", "lars,gaussian", "-data", "all"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{string(c.priors[0]), string(c.priors[1])}; !reflect.DeepEqual(got, []string{"gaussian", "lars"}) {
		t.Errorf("-prior lars,gaussian: %v, want Table 1's order gaussian, lars", got)
	}
	if !reflect.DeepEqual(c.datasets, vaeDataOrder) {
		t.Errorf("-data all: %v", c.datasets)
	}
}

// TestVAESchedule checks that the flags' schedule is App. D.2's scaled
// to the steps, and that -anneal-frac 0 turns annealing off.
func TestVAESchedule(t *testing.T) {
	c, err := parseVAEFlags([]string{"-steps", "20000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := (&vaeRun{c: c}).schedule()
	if a, d := s.AnnealSteps(), s.DropStep(); a != 200 || d != 2000 {
		t.Errorf("20000 steps: annealing over %d steps, drop at %d; want 200 and 2000 (10⁵ and 10⁶ of 10⁷)", a, d)
	}
	if lr0, lr1 := s.LearningRate(1999), s.LearningRate(2000); lr0 != 3e-4 || lr1 != 1e-4 {
		t.Errorf("learning rates %g, %g around the drop; want 3e-4, 1e-4", lr0, lr1)
	}
	c.annealFrac = 0
	if b := (&vaeRun{c: c}).schedule().KLWeight(0); b != 1 {
		t.Errorf("-anneal-frac 0: KL weight %g at step 0, want 1", b)
	}
}

// metricsWithoutTimes returns every metrics log under dir, by path
// relative to dir, with the wall times dropped.
func metricsWithoutTimes(t *testing.T, dir string) map[string][]experiment.Point {
	t.Helper()
	out := map[string][]experiment.Point{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == experiment.MetricsName {
			pts, err := experiment.ReadMetrics(p)
			if err != nil {
				t.Fatal(err)
			}
			for i := range pts {
				pts[i].Seconds = 0
			}
			rel, _ := filepath.Rel(dir, p)
			out[rel] = pts
		}
		return nil
	})
	return out
}

// TestVAEKillAndResume trains every prior with tiny models, kills the
// command with SIGKILL at several points, runs it again to the end and
// checks that results and training records (validation curve included)
// equal an uninterrupted run's, apart from timings.
func TestVAEKillAndResume(t *testing.T) {
	args := append([]string{"-quiet", "-prior", "all"}, vaeTiny...)
	straight := t.TempDir()
	if code, stderr := runVAECmd(t, nil, append(args, "-out", straight)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
	}
	total := stepsLogged(straight)
	if want := 5 * 30; total != want {
		t.Fatalf("%d steps logged, want %d", total, want)
	}
	want := withoutTimes(t, filepath.Join(straight, "results.json"))
	wantMetrics := metricsWithoutTimes(t, straight)

	dir := t.TempDir()
	kills, _ := killAt(t, dir, total, []float64{0.1, 0.35, 0.6, 0.9}, append(append([]string{"vae"}, args...), "-out", dir)...)
	if kills < 2 {
		t.Errorf("only %d of the runs were killed before finishing", kills)
	}
	if code, stderr := runVAECmd(t, nil, append(args, "-out", dir)...); code != 0 {
		t.Fatalf("resumed run: exit %d\n%s", code, stderr)
	}
	if got := withoutTimes(t, filepath.Join(dir, "results.json")); !reflect.DeepEqual(got, want) {
		t.Errorf("results after %d kills differ from the uninterrupted run's:\n%v\n%v", kills, got, want)
	}
	if got := metricsWithoutTimes(t, dir); !reflect.DeepEqual(got, wantMetrics) {
		t.Errorf("training records after %d kills differ from the uninterrupted run's", kills)
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})

	// The outputs: every run's pictures and numbers.
	for _, p := range vaePriorOrder {
		for _, f := range []string{"samples.png", "curves.png", "result.json"} {
			if _, err := os.Stat(filepath.Join(dir, data.NameDynamicMNIST, string(p), f)); err != nil {
				t.Error(err)
			}
		}
	}
	res := readJSON[vaeResults](t, filepath.Join(dir, "results.json"))
	for _, r := range res.Runs {
		if r.Steps != 30 || r.TestImages != 16 || r.EvalSamples != 4 || r.Paper == nil || r.KLAnnealSteps != 1 || r.LRDropStep != 3 ||
			r.ValidImages != 16 || r.ValidSplit != "valid" {
			t.Errorf("%s/%s: steps %d, test images %d, S %d, paper %v, anneal %d, drop %d, valid %d %s", r.Data, r.Prior, r.Steps,
				r.TestImages, r.EvalSamples, r.Paper, r.KLAnnealSteps, r.LRDropStep, r.ValidImages, r.ValidSplit)
		}
		if (r.Prior == "lars") != (r.LARSZDraws == 1000) {
			t.Errorf("%s/%s: LARS Z from %d draws", r.Data, r.Prior, r.LARSZDraws)
		}
	}
	pts := wantMetrics[filepath.Join(data.NameDynamicMNIST, "his", experiment.MetricsName)]
	for _, p := range pts {
		if _, ok := p.Values["valid_bound"]; ok != (p.Step%10 == 0) {
			t.Errorf("step %d: validation bound %v; want one every 10 steps", p.Step, p.Values)
		}
	}
}

// TestVAEMarkdown checks results.md's Table 1 layout: priors in rows,
// each data set's column ours beside the paper's, the LARS Z note and
// the static-MNIST note.
func TestVAEMarkdown(t *testing.T) {
	c := &vaeConfig{datasets: vaeDataOrder, priors: vaePriorOrder}
	all := &vaeResults{}
	for _, d := range vaeDataOrder {
		for i, p := range vaePriorOrder {
			r := &vaeResult{Data: d, Prior: string(p), TestBound: jsonFloat(-100 - float64(i)), TestBoundStdErr: 0.25}
			if p == "lars" {
				r.LARSZ, r.LARSZStdErr, r.LARSZDraws = 0.5, 1e-4, 100_000_000
			}
			all.Runs = append(all.Runs, r)
		}
	}
	md := vaeMarkdown(all, c)
	for _, s := range []string{
		"| prior | static MNIST (ours) | static MNIST (paper) | dynamic MNIST (ours) | dynamic MNIST (paper) | Fashion-MNIST (ours) | Fashion-MNIST (paper) |",
		"| VAE w/ Gaussian prior | -100.00 ± 0.25 | -89.20 ± 0.08 | -100.00 ± 0.25 | -84.82 ± 0.12 | -100.00 ± 0.25 | -228.70 ± 0.09 |",
		"| VAE w/ LARS prior | -104.00 ± 0.25 | -86.53 | -104.00 ± 0.25 | -83.03 | -104.00 ± 0.25 | -227.45 |",
		"from 100000000 proposal draws", "not the Larochelle–Murray set", "Fashion-MNIST has no validation split", "its †",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("results.md lacks %q:\n%s", s, md)
		}
	}
}

// TestVAEEvaluationResumes checks that a test evaluation cut short after
// its first block of images continues from eval.json to the numbers of an
// evaluation in one go.
func TestVAEEvaluationResumes(t *testing.T) {
	args := append([]string{"-quiet", "-prior", "snis,lars"}, vaeTiny...)
	args = append(args, "-test-images", "2100", "-eval-samples", "2") // three blocks
	dir := t.TempDir()
	if code, stderr := runVAECmd(t, nil, append(args, "-out", dir)...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	want := withoutTimes(t, filepath.Join(dir, "results.json"))
	for _, p := range []string{"snis", "lars"} {
		run := filepath.Join(dir, data.NameDynamicMNIST, p)
		st := readJSON[vaeEvalState](t, filepath.Join(run, "eval.json"))
		if len(st.Blocks) != 3 || len(st.Blocks[2]) != 100 {
			t.Fatalf("%s: eval.json has %d blocks", p, len(st.Blocks))
		}
		// As a kill after the first block leaves it; LARS's Z is kept.
		st.Blocks = st.Blocks[:1]
		if err := experiment.WriteJSON(filepath.Join(run, "eval.json"), st); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(run, "result.json"))
	}
	code, stderr := runVAECmd(t, nil, append(args[1:], "-out", dir)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "dynamic-mnist/snis: test images 2000 of 2100 done") || strings.Contains(stderr, "test images 1000 of") {
		t.Errorf("the evaluation did not continue at its second block:\n%s", stderr)
	}
	if got := withoutTimes(t, filepath.Join(dir, "results.json")); !reflect.DeepEqual(got, want) {
		t.Errorf("results of the resumed evaluation differ:\n%v\n%v", got, want)
	}
}

// TestVAEDataErrors checks that a missing Fashion-MNIST package, corrupt
// data files and settings the data cannot meet end with one line, no
// panic, and nothing created or overwritten under -out.
func TestVAEDataErrors(t *testing.T) {
	eimkitBin(t)
	done := t.TempDir()
	if code, stderr := runVAECmd(t, nil, append([]string{"-quiet", "-data", "all", "-prior", "gaussian", "-out", done}, vaeTiny...)...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	before := snapshot(t, done)
	// Every data set's outputs; Fashion-MNIST's validation images are
	// test images (it has no validation split).
	for _, r := range readJSON[vaeResults](t, filepath.Join(done, "results.json")).Runs {
		if wantTest := r.Data == data.NameFashionMNIST; strings.HasPrefix(r.ValidSplit, "test") != wantTest {
			t.Errorf("%s: validation images from %q", r.Data, r.ValidSplit)
		}
		for _, f := range []string{"samples.png", "curves.png"} {
			if _, err := os.Stat(filepath.Join(done, r.Data, r.Prior, f)); err != nil {
				t.Error(err)
			}
		}
	}

	empty := t.TempDir()
	corrupt := t.TempDir()
	for _, f := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		if err := os.WriteFile(filepath.Join(corrupt, f), []byte("not gzip at all"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		env, args []string
		code      int
		says      []string
	}{
		{"no Fashion-MNIST package", []string{data.FashionMNISTDirEnv + "=" + empty}, []string{"-data", "fashion-mnist"}, 1,
			[]string{"dataset-fashion-mnist", "apt-get install"}},
		{"corrupt Fashion-MNIST", []string{data.FashionMNISTDirEnv + "=" + corrupt}, []string{"-data", "fashion-mnist"}, 1,
			[]string{corrupt}},
		{"corrupt MNIST", []string{data.MNISTDirEnv + "=" + corrupt}, []string{"-data", "dynamic-mnist"}, 1, []string{corrupt}},
		{"batch beyond the training set", nil, []string{"-batch", "50001"}, 2, []string{"-batch 50001", "50000 training images"}},
		{"more test images than exist", nil, []string{"-test-images", "10001"}, 2, []string{"-test-images 10001"}},
		{"oversized networks", nil, []string{"-hidden", "100000,100000"}, 2, []string{"needs about"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(append([]string{"-quiet", "-prior", "gaussian"}, vaeTiny...), tc.args...), "-out", done)
			code, stderr := runVAECmd(t, tc.env, args...)
			msg := strings.TrimSpace(stderr)
			if code != tc.code || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
				t.Errorf("exit %d, stderr %q; want exit %d and one line", code, msg, tc.code)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("stderr %q does not say %q", msg, s)
				}
			}
			if after := snapshot(t, done); !reflect.DeepEqual(after, before) {
				t.Errorf("the failed run changed the results: %v", diffKeys(before, after))
			}
			fresh := filepath.Join(t.TempDir(), "out")
			runVAECmd(t, tc.env, append(args[:len(args)-2], "-out", fresh)...)
			if _, err := os.Stat(fresh); err == nil {
				t.Errorf("a run refused before it started created %s", fresh)
			}
		})
	}
}

// TestVAESIGINTDuringEvaluation interrupts a long test evaluation and
// checks that the command exits with status 130 within a second of CPU
// time and leaves the previous results untouched.
func TestVAESIGINTDuringEvaluation(t *testing.T) {
	dir := t.TempDir()
	args := append([]string{"-prior", "snis", "-out", dir}, vaeTiny...)
	if code, stderr := runVAECmd(t, nil, append(args, "-quiet")...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	before := snapshot(t, dir)
	// Training is reused (the identity does not hold -eval-samples); the
	// evaluation with 10⁶ samples is long.
	cmd := exec.Command(eimkitBin(t), append(append([]string{"vae"}, args...), "-eval-samples", "200000")...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	evaluating := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if strings.Contains(sc.Text(), "evaluating") {
				once.Do(func() { close(evaluating) })
			}
		}
	}()
	select {
	case <-evaluating:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no evaluation started")
	}
	time.Sleep(200 * time.Millisecond)
	cpuBefore := cpuTime(t, cmd.Process.Pid)
	cmd.Process.Signal(os.Interrupt)
	code := exitStatus(t, cmd)
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() - cpuBefore
	pw.Close()
	mu.Lock()
	defer mu.Unlock()
	if code != 130 {
		t.Errorf("exit %d after SIGINT, want 130\n%s", code, strings.Join(lines, "\n"))
	}
	if cpu > time.Second {
		t.Errorf("used %v of CPU to stop after SIGINT, want under a second", cpu)
	}
	if after := snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("an interrupted evaluation changed the results: %v", diffKeys(before, after))
	}
	var res vaeResult
	b, _ := os.ReadFile(filepath.Join(dir, data.NameDynamicMNIST, "snis", "result.json"))
	if err := json.Unmarshal(b, &res); err != nil || res.EvalSamples != 4 {
		t.Errorf("the run's result.json was replaced: %v, S = %d", err, res.EvalSamples)
	}
}
