package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPaired checks the paired command's numbers against values worked
// by hand, on an eval.json (blocks of images) against a test_bounds.json.
func TestPaired(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	b := filepath.Join(dir, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A: four images in two blocks; B: five images, the fifth ignored.
	write(t, filepath.Join(a, "eval.json"), `{"settings":{"data":"dynamic-mnist","seed":"1"},"blocks":[[-90,-100],[-80,-110]]}`)
	write(t, filepath.Join(b, "test_bounds.json"), `{"bounds":[-91,-103,-80,-114,-7]}`)
	var out, errOut bytes.Buffer
	if err := pairedMain([]string{a, b}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	// Differences 1, 3, 0, 4: mean 2, sample variance (1+1+4+4)/3 = 10/3,
	// standard error sqrt(10/3/4) = 0.9129. A: mean −95, variance
	// (25+25+225+225)/3, s.e. sqrt(500/12) = 6.4550. B over its first
	// four: mean −97, variance (36+36+289+289)/3, s.e. sqrt(650/12) = 7.3598.
	want := []string{
		"A  " + filepath.Join(a, "eval.json") + ": -95.0000 ± 6.4550",
		"B  " + filepath.Join(b, "test_bounds.json") + ": -97.0000 ± 7.3598",
		"A − B, paired over the first 4 test images: +2.0000 ± 0.9129",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("output\n%s\nwant\n%s", out.String(), strings.Join(want, "\n"))
	}
	out.Reset()
	if err := pairedMain([]string{"-first", "2", filepath.Join(b, "test_bounds.json"), a}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	// First two: B − A differences −1, −3: mean −2, s.e. sqrt(2/2) = 1.
	if !strings.Contains(out.String(), "paired over the first 2 test images: -2.0000 ± 1.0000") {
		t.Errorf("-first 2 gave\n%s", out.String())
	}
}

// TestPairedRefused checks that bad arguments and files are one-line
// errors naming the file, usage errors where the arguments are wrong.
func TestPairedRefused(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	write(t, good, `{"settings":{"data":"static-mnist","seed":"1"},"blocks":[[-1,-2,-3]]}`)
	other := filepath.Join(dir, "other.json")
	write(t, other, `{"settings":{"data":"fashion-mnist","seed":"1"},"blocks":[[-1,-2,-3]]}`)
	one := filepath.Join(dir, "one.json")
	write(t, one, `{"bounds":[-1]}`)
	bad := filepath.Join(dir, "bad.json")
	write(t, bad, `{"bounds":[-1,`)
	empty := filepath.Join(dir, "empty.json")
	write(t, empty, `{"settings":{}}`)
	for _, tc := range []struct {
		args  []string
		usage bool
		msg   string
	}{
		{[]string{good}, true, "want two runs"},
		{[]string{"-first", "-1", good, good}, true, "-first -1"},
		{[]string{good, other}, false, "not the same test images"},
		{[]string{good, one}, false, "at least two in common"},
		{[]string{"-first", "4", good, good}, false, "-first 4"},
		{[]string{good, bad}, false, bad},
		{[]string{good, empty}, false, "no per-image bounds"},
		{[]string{good, filepath.Join(dir, "missing.json")}, false, "does not exist"},
		{[]string{good, dir + "/"}, false, "neither eval.json nor test_bounds.json"},
	} {
		var out, errOut bytes.Buffer
		err := pairedMain(tc.args, &out, &errOut)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		if errors.Is(err, errUsage) != tc.usage {
			t.Errorf("%v: usage error %v, want %v (%v)", tc.args, errors.Is(err, errUsage), tc.usage, err)
		}
		if msg := err.Error() + errOut.String(); !strings.Contains(msg, tc.msg) || strings.Count(strings.TrimSpace(err.Error()), "\n") > 0 {
			t.Errorf("%v: error %q, want one line containing %q", tc.args, msg, tc.msg)
		}
		if out.Len() != 0 {
			t.Errorf("%v: printed %q before failing", tc.args, out.String())
		}
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
