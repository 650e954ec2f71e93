package main

// Table 2's CelebA column through eimdata, on folders of tiny generated
// RGB images: no CelebA ships with eimkit, so -data celeba is checked on
// 8×8 PNGs (-celeba-size 8) written here.

import (
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/eimkit/eimkit/data"
)

// writeCelebADir writes n size×size RGB PNGs named 000001.png, … into
// dir, image i of pseudo-random colours from its own stream.
func writeCelebADir(t *testing.T, dir string, n, size int) {
	t.Helper()
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(i), 20191208))
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		for j := range img.Pix {
			img.Pix[j] = uint8(rng.IntN(256))
			if j%4 == 3 {
				img.Pix[j] = 255
			}
		}
		writeTestPNG(t, filepath.Join(dir, fmt.Sprintf("%06d.png", i+1)), img)
	}
}

func writeTestPNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// runEIMDataEnv runs eimkit eimdata with args in the test's environment
// without $EIMKIT_CELEBA_DIR, plus env.
func runEIMDataEnv(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd, stderr := eimkitCmd(t, append([]string{"eimdata"}, args...)...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, data.CelebADirEnv+"=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return exitStatus(t, cmd), stderr.String()
}

// TestCelebASplit checks the split by file names: CelebA's own partition
// for its 202,599 names, else the last tenth or the last -celeba-test
// files, and the refusal of a split with no training image.
func TestCelebASplit(t *testing.T) {
	names := make([]string, 202_599)
	for i := range names {
		names[i] = fmt.Sprintf("%06d.jpg", i+1)
	}
	cases := []struct {
		names               []string
		test                int
		trainEnd, testStart int
		how                 string
		wantErr             bool
	}{
		// list_eval_partition.txt: 000001–162770 train, 182638–202599 test.
		{names, 0, 162_770, 182_637, "celeba-partition", false},
		{names, 1000, 201_599, 201_599, "last-1000-of-202599", false},
		{append(slices.Clone(names[:202_598]), "x.jpg"), 0, 182_339, 182_339, "last-20260-of-202599", false},
		{names[:30], 0, 27, 27, "last-3-of-30", false},
		{names[:31], 0, 27, 27, "last-4-of-31", false},
		{names[:30], 5, 25, 25, "last-5-of-30", false},
		{names[:30], 30, 0, 0, "", true},
		{names[:1], 0, 0, 0, "", true},
	}
	for _, tc := range cases {
		trainEnd, testStart, how, err := celebaSplit(tc.names, tc.test)
		if (err != nil) != tc.wantErr || trainEnd != tc.trainEnd || testStart != tc.testStart || how != tc.how {
			t.Errorf("%d names, -celeba-test %d: train [0, %d), test [%d, n), %q, error %v; want [0, %d), [%d, n), %q, error %v",
				len(tc.names), tc.test, trainEnd, testStart, how, err, tc.trainEnd, tc.testStart, tc.how, tc.wantErr)
		}
	}
}

// TestCelebAFlags checks -data celeba's flags: the folder from
// -celeba-dir or $EIMKIT_CELEBA_DIR, D = size²·3, continuous data's K,
// and one-line usage errors.
func TestCelebAFlags(t *testing.T) {
	t.Setenv(data.CelebADirEnv, "/from/env")
	c, err := parseEIMDataFlags([]string{"-data", "celeba", "-model", "all"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.celebaDir != "/from/env" || c.dim() != 64*64*3 || !c.continuous() || c.K != 128 || !reflect.DeepEqual(c.models, []string{"snis", "lars", "his"}) {
		t.Errorf("-data celeba: dir %q, D = %d, continuous %v, K %d, models %v; want the env's folder, 12288, true, 128, all three",
			c.celebaDir, c.dim(), c.continuous(), c.K, c.models)
	}
	if c, _ := parseEIMDataFlags([]string{"-data", "celeba", "-celeba-dir", "d", "-celeba-size", "8"}, io.Discard); c == nil || c.celebaDir != "d" || c.dim() != 192 {
		t.Errorf("-celeba-dir d -celeba-size 8: %+v, want folder d and D = 192", c)
	}
	t.Setenv(data.CelebADirEnv, "")
	for _, args := range [][]string{
		{"-data", "celeba"}, // no folder
		{"-data", "celeba", "-celeba-dir", "d", "-proposal", "convhvae"},
		{"-data", "celeba", "-celeba-dir", "d", "-candidate-grad", "vimco"},
		{"-data", "celeba", "-celeba-dir", "d", "-celeba-size", "0"},
		{"-data", "celeba", "-celeba-dir", "d", "-celeba-test", "-1"},
		{"-data", "continuous-mnist", "-celeba-dir", "d"},
		{"-celeba-test", "5"},
	} {
		var buf strings.Builder
		_, err := parseEIMDataFlags(args, &buf)
		if msg := strings.TrimSpace(buf.String()); err == nil || msg == "" || strings.Contains(msg, "\n") {
			t.Errorf("%v: error %v, message %q; want a one-line usage error", args, err, msg)
		}
	}
}

// TestCelebAMemory checks that the memory estimate grows with D: the
// paper's CelebA (202,599 images of 12,288 values, its 19,962 test images)
// at the paper's sizes needs more than its 2.5 GB of pixels and much more
// than continuous MNIST at the same settings, yet fits a 24 GB machine.
func TestCelebAMemory(t *testing.T) {
	for _, p := range []string{"full", "small"} {
		cel, err := parseEIMDataFlags([]string{"-data", "celeba", "-celeba-dir", "d", "-proposal", p, "-model", "all"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		mn, err := parseEIMDataFlags([]string{"-data", "continuous-mnist", "-proposal", p, "-model", "all"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := cel.memory(celebaImages, celebaTestImages)
		m, _ := mn.memory(mnistImages, 10_000)
		t.Logf("-proposal %s -model all: CelebA %.2f GB, continuous MNIST %.2f GB", p, c/1e9, m/1e9)
		if !(c > float64(celebaImages)*12288 && c > 8*m && c < 24e9 && m < 3e9) {
			t.Errorf("-proposal %s: CelebA %.3g bytes, MNIST %.3g; want CelebA above its pixels' 2.5 GB, above 8× MNIST, under 24 GB", p, c, m)
		}
	}
}

// TestCelebATinyRuns runs eimdata on 30 generated 8×8 RGB images: the
// small VAE with SNIS, LARS and HIS over it on the default split (the
// last 3 images), the full VAE with SNIS on -celeba-test 6 from
// $EIMKIT_CELEBA_DIR; each row's bound finite and negative, the paper's
// CelebA number beside it, colour sample grids; a second run reuses every
// result, and a run on changed images is refused.
func TestCelebATinyRuns(t *testing.T) {
	imgs := t.TempDir()
	writeCelebADir(t, imgs, 30, 8)
	cases := []struct {
		name   string
		env    []string
		args   []string
		models []string
		paper  []float64
		test   int
	}{
		{"small", nil, []string{"-celeba-dir", imgs, "-proposal", "small", "-model", "all"},
			[]string{"vae", "snis", "lars", "his"}, []float64{-60130.94, -60115.99, -60116.65, -59711.30}, 3},
		{"full-env", []string{data.CelebADirEnv + "=" + imgs}, []string{"-proposal", "full", "-model", "snis", "-celeba-test", "6"},
			[]string{"vae", "snis"}, []float64{-57471.48, -57470.42}, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append(append(append([]string{"-quiet", "-out", dir, "-data", "celeba", "-celeba-size", "8"}, eimdataTiny...), "-test-images", "0"), tc.args...)
			if code, stderr := runEIMDataEnv(t, tc.env, args...); code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			res := readJSON[eimdataResults](t, filepath.Join(dir, "results.json"))
			if len(res.Rows) != len(tc.models) {
				t.Fatalf("%d rows, want %d", len(res.Rows), len(tc.models))
			}
			for i, r := range res.Rows {
				b := float64(r.TestBound)
				if r.Data != "celeba" || r.Model != tc.models[i] || math.IsNaN(b) || math.IsInf(b, 0) || b >= 0 || !(float64(r.TestBoundStdErr) > 0) {
					t.Errorf("row %d: %s/%s bound %v ± %v; want celeba/%s, a finite negative value with a positive s.e.",
						i, r.Data, r.Model, b, float64(r.TestBoundStdErr), tc.models[i])
				}
				if r.TestImages != tc.test || r.Scale != "nats on the 8-bit pixel scale" {
					t.Errorf("%s: %d test images on %q, want %d on the pixel scale", r.Model, r.TestImages, r.Scale, tc.test)
				}
				if r.Paper == nil || *r.Paper != tc.paper[i] {
					t.Errorf("%s: paper %v, want %v", r.Model, r.Paper, tc.paper[i])
				}
				d := filepath.Join(dir, "celeba", r.Proposal)
				if i > 0 {
					d += "+" + r.Model
				}
				checkColourGrid(t, filepath.Join(d, "samples.png"), 8)
			}
			if !strings.Contains(res.Note, "−192·log 256") {
				t.Errorf("note %q does not give D = 192", res.Note)
			}
			code, stderr := runEIMDataEnv(t, tc.env, args...)
			if code != 0 {
				t.Fatalf("second run: exit %d\n%s", code, stderr)
			}
			if got := readJSON[eimdataResults](t, filepath.Join(dir, "results.json")); !reflect.DeepEqual(got.Rows, res.Rows) {
				t.Errorf("second run's rows differ from the first's")
			}
		})
	}

	// Other pixels under the same names: the proposal's checkpoint was
	// written from other data, and the harness refuses it.
	changed := t.TempDir()
	writeCelebADir(t, changed, 30, 8)
	writeTestPNG(t, filepath.Join(changed, "000007.png"), image.NewRGBA(image.Rect(0, 0, 8, 8)))
	dir := t.TempDir()
	base := append(append([]string{"-quiet", "-data", "celeba", "-celeba-size", "8", "-model", "none"}, eimdataTiny...), "-test-images", "0", "-out", dir)
	if code, stderr := runEIMDataEnv(t, nil, append(base, "-celeba-dir", imgs)...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	code, stderr := runEIMDataEnv(t, nil, append(base, "-celeba-dir", changed)...)
	if msg := strings.TrimSpace(stderr); code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, "celeba-pixels-sha256") {
		t.Errorf("changed images: exit %d, stderr %q; want 1 and one line naming celeba-pixels-sha256", code, msg)
	}
}

// checkColourGrid checks that path is the 8×8 grid of 64 RGB samples of
// side size, each pixel 2×2, and that it has colour in it.
func checkColourGrid(t *testing.T, path string, size int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	side := 8*(2*size+2) + 2
	if b := img.Bounds(); b.Dx() != side || b.Dy() != side {
		t.Errorf("%s: %v, want %d×%d", path, b, side, side)
	}
	for y := range side {
		for x := range side {
			r, g, b, _ := img.At(x, y).RGBA()
			if r != g || g != b {
				return
			}
		}
	}
	t.Errorf("%s: no coloured pixel", path)
}

// TestCelebADataErrors checks that a missing or empty folder, a corrupt
// image, an image of the wrong size, a split with no training image and
// settings beyond the memory are one-line errors naming the folder or
// file (exit 1 for the data, 2 for the settings), and that nothing is
// created under -out.
func TestCelebADataErrors(t *testing.T) {
	good := t.TempDir()
	writeCelebADir(t, good, 12, 8)
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("not an image"), 0o644)
	corrupt := t.TempDir()
	writeCelebADir(t, corrupt, 12, 8)
	bad := filepath.Join(corrupt, "000005.png")
	os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\n truncated"), 0o644)
	wrong := t.TempDir()
	writeCelebADir(t, wrong, 12, 8)
	odd := filepath.Join(wrong, "000003.png")
	writeTestPNG(t, odd, image.NewRGBA(image.Rect(0, 0, 9, 8)))
	missing := filepath.Join(empty, "missing")

	for _, tc := range []struct {
		name string
		args []string
		code int
		says []string
	}{
		{"missing folder", []string{"-celeba-dir", missing}, 1, []string{missing}},
		{"no images", []string{"-celeba-dir", empty}, 1, []string{empty, "no .png"}},
		{"corrupt image", []string{"-celeba-dir", corrupt}, 1, []string{bad}},
		{"wrong size", []string{"-celeba-dir", wrong}, 1, []string{odd, "9×8", "8×8"}},
		{"no folder", nil, 2, []string{"-celeba-dir", data.CelebADirEnv}},
		{"no training image", []string{"-celeba-dir", good, "-celeba-test", "12"}, 2, []string{good, "-celeba-test 12"}},
		{"batch beyond the training set", []string{"-celeba-dir", good, "-batch", "11"}, 2, []string{"-batch 11", "10 training images"}},
		{"beyond the memory", []string{"-celeba-dir", good, "-celeba-size", "60000"}, 2, []string{"needs about"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append(append(append([]string{"-quiet", "-out", out, "-data", "celeba", "-celeba-size", "8"}, eimdataTiny...), "-test-images", "0"), tc.args...)
			code, stderr := runEIMDataEnv(t, nil, args...)
			msg := strings.TrimSpace(stderr)
			if code != tc.code || strings.Contains(msg, "\n") || strings.Contains(msg, "panic") {
				t.Errorf("exit %d, stderr %q; want exit %d and one line", code, msg, tc.code)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("stderr %q does not say %q", msg, s)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused run created %s", out)
			}
		})
	}
}
