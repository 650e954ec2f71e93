package main

// Tests that run the eimkit binary as a user would: killed with SIGKILL
// and resumed, interrupted with SIGINT during evaluation, two processes
// on one -out, oversized settings, a stale lock and leftover temporary
// files. The binary is built once per test run.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// eimkitBin builds the eimkit binary once into a temporary directory and
// returns its path.
func eimkitBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	binOnce.Do(func() {
		// EIMKIT_TEST_BIN runs the tests against another binary (an older
		// eimkit, to see which of them it fails).
		if p := os.Getenv("EIMKIT_TEST_BIN"); p != "" {
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "eimkit-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "eimkit")
		out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" && os.Getenv("EIMKIT_TEST_BIN") == "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	if straightRoot != "" {
		os.RemoveAll(straightRoot)
	}
	os.Exit(code)
}

var (
	straightMu   sync.Mutex
	straightRoot string // holds the straight runs; removed by TestMain
	straightDirs = map[string]string{}
)

// straightRun returns a copy, in a fresh temporary directory, of the
// output of an uninterrupted run of the i-th procTests command, which is
// computed once per test binary.
func straightRun(t *testing.T, i int) string {
	t.Helper()
	pt := procTests[i]
	straightMu.Lock()
	defer straightMu.Unlock()
	src, ok := straightDirs[pt.cmd]
	if !ok {
		var err error
		if straightRoot == "" {
			if straightRoot, err = os.MkdirTemp("", "eimkit-straight"); err != nil {
				t.Fatal(err)
			}
		}
		if src, err = os.MkdirTemp(straightRoot, pt.cmd); err != nil {
			t.Fatal(err)
		}
		cmd, stderr := eimkitCmd(t, append([]string{pt.cmd, "-quiet", "-out", src}, pt.args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if code := exitStatus(t, cmd); code != 0 {
			t.Fatalf("uninterrupted run: exit %d\n%s", code, stderr)
		}
		straightDirs[pt.cmd] = src
	}
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// procTests are the commands the process tests run, with settings that
// train for a few hundred fast steps and evaluate quickly.
var procTests = []struct {
	cmd  string
	args []string
}{
	{"synthetic", []string{"-model", "snis,lars", "-target", "two-rings", "-steps", "200", "-checkpoint-every", "25",
		"-K", "32", "-T", "32", "-hidden", "8", "-batch", "16",
		"-eval-points", "40", "-eval-samples", "8", "-lars-z-samples", "2000", "-plot-samples", "400"}},
	{"sivi", []string{"-target", "banana", "-steps", "120", "-checkpoint-every", "25", "-K", "3", "-iwhvi-K", "2", "-batch", "8",
		"-eval-K", "10", "-eval-batches", "4", "-plot-samples", "200"}},
	{"hvi", []string{"-steps", "200", "-checkpoint-every", "25", "-draws", "8", "-eval-draws", "400"}},
	// -resampling-gradient: FIVO's baseline is training state beyond the parameters.
	{"vsmc", []string{"-steps", "120", "-checkpoint-every", "25", "-batch", "1", "-eval-runs", "60", "-resampling-gradient"}},
}

// eimkitCmd returns the exec.Cmd of eimkit with args, its stderr captured
// in the returned buffer.
func eimkitCmd(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	cmd := exec.Command(eimkitBin(t), args...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	return cmd, &stderr
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// exitStatus runs cmd to its end and returns its exit status.
func exitStatus(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		t.Fatal(err)
		return -1
	}
}

// stepsLogged counts the lines of every metrics log under dir.
func stepsLogged(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "metrics.jsonl" {
			b, _ := os.ReadFile(p)
			n += bytes.Count(b, []byte("\n"))
		}
		return nil
	})
	return n
}

// killAt runs eimkit with args once per fraction in fracs, killing each
// run with SIGKILL once the metrics logs under dir hold frac·total steps
// (a run that finishes first must exit 0). It returns how many runs were
// killed and each run's standard error.
func killAt(t *testing.T, dir string, total int, fracs []float64, args ...string) (kills int, logs []*syncBuffer) {
	t.Helper()
	for _, frac := range fracs {
		cmd, stderr := eimkitCmd(t, args...)
		logs = append(logs, stderr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan int, 1)
		go func() { done <- exitStatus(t, cmd) }()
		target := int(frac * float64(total))
	wait:
		for {
			select {
			case code := <-done:
				// Finished before the kill point (the last one may).
				if code != 0 {
					t.Fatalf("run to kill at %.0f%%: exit %d\n%s", 100*frac, code, stderr)
				}
				break wait
			case <-time.After(2 * time.Millisecond):
				if stepsLogged(dir) >= target {
					cmd.Process.Signal(syscall.SIGKILL)
					<-done
					kills++
					break wait
				}
			}
		}
	}
	return kills, logs
}

// withoutTimes decodes a results.json and drops every wall-time field.
func withoutTimes(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var strip func(v any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if strings.Contains(k, "seconds") {
					delete(x, k)
				} else {
					strip(e)
				}
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	return v
}

// TestKillAndResume kills each command with SIGKILL at two points of its
// training and once more at its end (during evaluation or writing), runs it
// again to the end, and checks that its results equal those of an
// uninterrupted run apart from timings, and that no temporary file is
// left.
func TestKillAndResume(t *testing.T) {
	for i, pt := range procTests {
		t.Run(pt.cmd, func(t *testing.T) {
			straight := straightRun(t, i)
			total := stepsLogged(straight)
			want := withoutTimes(t, filepath.Join(straight, "results.json"))

			dir := t.TempDir()
			// Not quiet: a resumed run says so.
			kills, logs := killAt(t, dir, total, []float64{0.15, 0.6, 1}, append([]string{pt.cmd, "-out", dir}, pt.args...)...)
			if kills < 2 {
				t.Errorf("only %d of the runs were killed before finishing", kills)
			}
			resumed := false
			for _, l := range logs[1:] {
				resumed = resumed || strings.Contains(l.String(), "resuming at step")
			}
			if !resumed {
				t.Errorf("no run after a kill resumed from a checkpoint (they started afresh)")
			}
			cmd, stderr := eimkitCmd(t, append([]string{pt.cmd, "-quiet", "-out", dir}, pt.args...)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if code := exitStatus(t, cmd); code != 0 {
				t.Fatalf("resumed run: exit %d\n%s", code, stderr)
			}
			if got := withoutTimes(t, filepath.Join(dir, "results.json")); !reflect.DeepEqual(got, want) {
				t.Errorf("results after %d kills differ from the uninterrupted run's:\n%v\n%v", kills, got, want)
			}
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && strings.Contains(d.Name(), ".tmp") {
					t.Errorf("temporary file left: %s", p)
				}
				return nil
			})
		})
	}
}

// TestSIGINTDuringEvaluation runs each command to the end, then again
// with an evaluation made long, sends SIGINT once the evaluation has
// started, and checks that the process exits with status 130 within a
// second and that the previous results are untouched.
func TestSIGINTDuringEvaluation(t *testing.T) {
	long := map[string][]string{
		"synthetic": {"-eval-samples", "100000"},
		"sivi":      {"-eval-batches", "100000"},
		"hvi":       {"-eval-draws", "5000000"},
		"vsmc":      {"-eval-runs", "10000000"},
	}
	for i, pt := range procTests {
		t.Run(pt.cmd, func(t *testing.T) {
			dir := straightRun(t, i)
			before := snapshot(t, dir)
			// Not quiet: the progress lines say when evaluation starts.
			args := append(append([]string{pt.cmd, "-out", dir}, pt.args...), long[pt.cmd]...)
			cmd := exec.Command(eimkitBin(t), args...)
			pr, pw := io.Pipe()
			cmd.Stderr = pw
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var lines []string
			evaluating := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(pr)
				once := sync.Once{}
				for sc.Scan() {
					lines = append(lines, sc.Text())
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
			time.Sleep(200 * time.Millisecond) // well inside the evaluation
			// The time to stop is measured in the process's CPU time, which
			// other work on the machine does not stretch as it does wall
			// time; on an idle machine the two are about the same.
			cpuBefore := cpuTime(t, cmd.Process.Pid)
			start := time.Now()
			cmd.Process.Signal(os.Interrupt)
			code := exitStatus(t, cmd)
			elapsed := time.Since(start)
			cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() - cpuBefore
			pw.Close()
			if code != 130 {
				t.Errorf("exit %d after SIGINT, want 130\n%s", code, strings.Join(lines, "\n"))
			}
			if cpu > time.Second {
				t.Errorf("used %v of CPU (%v of wall time) to stop after SIGINT, want under a second", cpu, elapsed)
			}
			if after := snapshot(t, dir); !reflect.DeepEqual(after, before) {
				t.Errorf("an interrupted evaluation changed the results: %v", diffKeys(before, after))
			}
		})
	}
}

// snapshot reads the command's top-level outputs (results, tables,
// pictures) in dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range es {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			m[e.Name()] = string(b)
		}
	}
	if _, ok := m["results.json"]; !ok {
		t.Fatalf("%s has no results.json", dir)
	}
	return m
}

func diffKeys(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, k)
		}
	}
	return d
}

// TestSecondProcessRefused starts a long run and checks that a second
// process on the same -out is refused with a message naming the first,
// and leaves the first's files alone.
func TestSecondProcessRefused(t *testing.T) {
	dir := t.TempDir()
	first, stderr1 := eimkitCmd(t, "synthetic", "-quiet", "-out", dir, "-model", "snis", "-target", "two-rings", "-steps", "1000000", "-K", "32", "-hidden", "8",
		"-checkpoint-every", "1")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "snis-two-rings", "checkpoint.bin")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first run did not start\n%s", stderr1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	second, stderr2 := eimkitCmd(t, "synthetic", "-quiet", "-out", dir, "-model", "snis", "-target", "two-rings", "-steps", "10", "-lr", "0.01")
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	code := exitStatus(t, second)
	msg := stderr2.String()
	if code == 0 || !strings.Contains(msg, fmt.Sprintf("pid %d", first.Process.Pid)) || !strings.Contains(msg, "synthetic") {
		t.Errorf("second process: exit %d, message %q; want a refusal naming pid %d", code, msg, first.Process.Pid)
	}
	if strings.Count(strings.TrimSpace(msg), "\n") > 0 {
		t.Errorf("refusal is not one line: %q", msg)
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	// Killed, the first leaves a stale lock, taken over by the next run.
	third, stderr3 := eimkitCmd(t, "synthetic", "-out", dir, "-model", "snis", "-target", "two-rings", "-steps", "10", "-lr", "0.01",
		"-K", "32", "-hidden", "8", "-eval-points", "10", "-eval-samples", "2", "-plot-samples", "100")
	if err := third.Start(); err != nil {
		t.Fatal(err)
	}
	exitStatus(t, third) // refused for its other -lr, after taking the lock
	if msg := stderr3.String(); !strings.Contains(msg, fmt.Sprintf("took over the lock of pid %d", first.Process.Pid)) ||
		!strings.Contains(msg, "lr 0.0003, now 0.01") {
		t.Errorf("after the first was killed: %q", msg)
	}
}

// TestOversizedSettingsRefused checks that settings that cannot fit end
// with one line and exit status 2 — no runtime out-of-memory crash and no
// goroutine dump — both against the machine's memory and under ulimit -v.
func TestOversizedSettingsRefused(t *testing.T) {
	bin := eimkitBin(t)
	for _, args := range [][]string{
		{"synthetic", "-K", "100000000"},
		{"synthetic", "-hidden", "100000,100000"},
		{"synthetic", "-batch", "1000000000"},
		{"synthetic", "-eval-points", "10000000000"},
		{"synthetic", "-steps", "100000000000"},
		{"sivi", "-eval-batches", "10000000000"},
		{"vsmc", "-eval-runs", "10000000000"},
		{"sivi", "-K", "1000000000"},
		{"hvi", "-draws", "1000000000"},
		{"vsmc", "-N", "1000000000"},
	} {
		for _, limit := range []string{"", "ulimit -v 4000000; "} {
			dir := t.TempDir()
			cmd := exec.CommandContext(context.Background(), "/bin/sh", "-c", limit+`exec "$0" "$@"`, bin)
			// The small settings of procTests first, so that a check that
			// fails does not run a long job; the flag under test overrides.
			var base []string
			for _, pt := range procTests {
				if pt.cmd == args[0] {
					base = pt.args
				}
			}
			cmd.Args = append(cmd.Args, args[0])
			cmd.Args = append(cmd.Args, base...)
			cmd.Args = append(cmd.Args, append(args[1:], "-quiet", "-out", dir)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			code := 0
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			msg := strings.TrimSpace(stderr.String())
			if code != 2 || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") || !strings.Contains(msg, "needs about") {
				t.Errorf("%s%v: exit %d, stderr %q; want exit 2 and one line", limit, args, code, msg)
			}
		}
	}
}

// TestFlagErrorsAreOneLine checks that bad flags of every command — NaN,
// ±Inf, negative, unknown — are refused with exit status 2 and one line.
func TestFlagErrorsAreOneLine(t *testing.T) {
	bin := eimkitBin(t)
	for _, args := range [][]string{
		{"synthetic", "-lr", "Inf"}, {"synthetic", "-lr", "NaN"}, {"synthetic", "-proposal-var", "-Inf"}, {"synthetic", "-batch", "-1"},
		{"sivi", "-lr", "Inf"}, {"sivi", "-K", "-2"}, {"hvi", "-lr", "NaN"}, {"hvi", "-x", "Inf"},
		{"vsmc", "-lr", "+Inf"}, {"vsmc", "-N", "0"}, {"vsmc", "-nope"}, {"synthetic", "-steps", "x"},
	} {
		cmd := exec.Command(bin, append(args, "-out", t.TempDir())...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
		if msg := strings.TrimSpace(stderr.String()); msg == "" || strings.Contains(msg, "\n") {
			t.Errorf("%v: stderr %q, want one line", args, msg)
		}
	}
}

// TestLeftoverTempFilesRemovedByCommand leaves what a kill -9 during a
// checkpoint write leaves and checks that the next run removes it.
func TestLeftoverTempFilesRemovedByCommand(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "snis-two-rings")
	os.MkdirAll(run, 0o755)
	left := filepath.Join(run, ".checkpoint.bin.tmp123456")
	os.WriteFile(left, []byte("partial"), 0o644)
	cmd, stderr := eimkitCmd(t, "synthetic", "-out", dir, "-model", "snis", "-target", "two-rings", "-steps", "5", "-K", "16", "-hidden", "4",
		"-eval-points", "10", "-eval-samples", "2", "-plot-samples", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(left); err == nil {
		t.Errorf("%s was not removed", left)
	}
	if !strings.Contains(stderr.String(), "removed 1 temporary file") {
		t.Errorf("the removal was not reported: %q", stderr)
	}
}

// cpuTime returns the user and system CPU time process pid has used, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// The command name (field 2) is parenthesized and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
