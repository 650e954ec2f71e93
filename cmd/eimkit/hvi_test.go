package main

import (
	"context"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestHVIEndToEnd runs the command with small settings and checks its
// outputs: the exact values, every bound below log p(x) (within 5 standard
// errors), HVI above the best diagonal-Gaussian ELBO, the table and the
// picture.
func TestHVIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseHVIFlags([]string{"-out", dir, "-steps", "400", "-draws", "8", "-eval-draws", "4000", "-quiet"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.run(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	r := readJSON[hviResults](t, filepath.Join(dir, "results.json"))
	if len(r.Points) != 3 {
		t.Fatalf("%d points, want 3", len(r.Points))
	}
	for _, p := range r.Points {
		if want := hviModel.LogEvidence([]float64{p.X}); p.LogEvidence != want {
			t.Errorf("x=%v: log_evidence %v, want %v", p.X, p.LogEvidence, want)
		}
		for name, v := range map[string][2]jsonFloat{"elbo": {p.ELBO, p.ELBOStdErr}, "hvi": {p.HVI, p.HVIStdErr}} {
			if float64(v[0]-5*v[1]) > p.LogEvidence {
				t.Errorf("x=%v: %s %v ± %v above log p(x) %v", p.X, name, v[0], v[1], p.LogEvidence)
			}
		}
		if float64(p.HVI+5*p.HVIStdErr) < p.BestMeanField {
			t.Errorf("x=%v: HVI bound %v ± %v below the best diagonal-Gaussian ELBO %v", p.X, p.HVI, p.HVIStdErr, p.BestMeanField)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "results.md")); err != nil {
		t.Error(err)
	}
	f, err := os.Open(filepath.Join(dir, "q.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("q.png: %v", err)
	}
}

func TestHVIFlags(t *testing.T) {
	for _, args := range [][]string{{"-steps", "0"}, {"-x", "1,abc"}, {"-eval-draws", "1"}, {"-lr", "-1"}, {"extra"}} {
		if _, err := parseHVIFlags(args, io.Discard); err == nil {
			t.Errorf("flags %q: no error", args)
		}
	}
}
