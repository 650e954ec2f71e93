package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The paired command compares two finished (or partly evaluated) runs
// image by image. Every run of a data set and seed — of `vae`, `fig3` or
// `eimdata` — is evaluated on the same test images with the same
// binarization or dequantization noise, so the bound of image i in one
// run and in the other differ by the models and the evaluation's own
// draws only. The difference of the means then has the standard error of
// the per-image differences, a small fraction of either bound's own
// error (which is mostly the spread of the images): the number that says
// whether one model is better than the other.

const pairedUsage = `Usage: eimkit paired [-first N] A B

Compares two runs evaluated on the same test images, image by image: A and
B are run directories (of vae, fig3 or eimdata) or the per-image files in
them (vae's and fig3's eval.json, eimdata's test_bounds.json). It prints
each run's mean bound ± its standard error over the images, and the mean of
the per-image differences A − B ± the standard error of those differences,
over the first images both runs hold (a partly finished evaluation counts
with the images it has done), or the first N with -first.

`

// runPaired is the paired subcommand.
func runPaired(_ context.Context, args []string) error {
	return pairedMain(args, os.Stdout, os.Stderr)
}

func pairedMain(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("paired", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(stderr, pairedUsage)
		fmt.Fprintln(stderr, "Flags:")
		fl.PrintDefaults()
	}
	first := fl.Int("first", 0, "compare the first N test images only (0: every image both runs hold)")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageErr{msg: err.Error(), printed: true}
	}
	if fl.NArg() != 2 {
		return usageError(stderr, "paired", "want two runs, A and B; got %d arguments", fl.NArg())
	}
	if *first < 0 {
		return usageError(stderr, "paired", "-first %d: want 0 or a positive count", *first)
	}
	a, err := readPerImage(fl.Arg(0))
	if err != nil {
		return err
	}
	b, err := readPerImage(fl.Arg(1))
	if err != nil {
		return err
	}
	if a.data != "" && b.data != "" && (a.data != b.data || a.seed != b.seed) {
		return fmt.Errorf("paired: %s is data %s, seed %s and %s data %s, seed %s: not the same test images",
			a.path, a.data, a.seed, b.path, b.data, b.seed)
	}
	n := min(len(a.bounds), len(b.bounds))
	if *first > 0 {
		if *first > n {
			return fmt.Errorf("paired: -first %d, but %s holds %d images and %s %d", *first, a.path, len(a.bounds), b.path, len(b.bounds))
		}
		n = *first
	}
	if n < 2 {
		return fmt.Errorf("paired: %s holds %d images and %s %d: at least two in common are needed for a standard error",
			a.path, len(a.bounds), b.path, len(b.bounds))
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = a.bounds[i] - b.bounds[i]
	}
	ma, sa := meanStdErr(a.bounds[:n])
	mb, sb := meanStdErr(b.bounds[:n])
	md, sd := meanStdErr(d)
	fmt.Fprintf(stdout, "A  %s: %.4f ± %.4f\n", a.path, ma, sa)
	fmt.Fprintf(stdout, "B  %s: %.4f ± %.4f\n", b.path, mb, sb)
	fmt.Fprintf(stdout, "A − B, paired over the first %d test images: %+.4f ± %.4f\n", n, md, sd)
	return nil
}

// perImage is one run's test bounds in test-set order.
type perImage struct {
	path       string
	bounds     []float64
	data, seed string // from eval.json's settings; empty for test_bounds.json
}

// readPerImage reads path, a run directory or one of its per-image files.
func readPerImage(path string) (*perImage, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		found := ""
		for _, name := range []string{"eval.json", "test_bounds.json"} {
			if _, err := os.Stat(filepath.Join(path, name)); err == nil {
				found = filepath.Join(path, name)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("paired: %s holds neither eval.json nor test_bounds.json: not an evaluated run", path)
		}
		path = found
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("paired: %s does not exist", path)
		}
		return nil, fmt.Errorf("paired: %w", err)
	}
	var f struct {
		Settings map[string]string `json:"settings"`
		Blocks   [][]float64       `json:"blocks"`
		Bounds   []float64         `json:"bounds"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("paired: %s: %v", path, err)
	}
	p := &perImage{path: path, bounds: f.Bounds, data: f.Settings["data"], seed: f.Settings["seed"]}
	for _, b := range f.Blocks {
		p.bounds = append(p.bounds, b...)
	}
	if f.Blocks != nil && f.Bounds != nil {
		return nil, fmt.Errorf("paired: %s has both blocks and bounds: not a file of this toolkit", path)
	}
	if len(p.bounds) == 0 {
		return nil, fmt.Errorf("paired: %s holds no per-image bounds (an eval.json or test_bounds.json of this toolkit has them)", path)
	}
	return p, nil
}
