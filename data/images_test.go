package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The data sets are decoded once per test binary (about 0.6 s each).
var (
	mnistOnce   sync.Once
	mnistSplits *Splits
	mnistErr    error

	fashionOnce   sync.Once
	fashionSplits *Splits
	fashionErr    error
)

// testMNIST returns MNIST, failing the test if it cannot be loaded: the
// files come with a module go.mod requires, so they are always there.
func testMNIST(t testing.TB) *Splits {
	t.Helper()
	mnistOnce.Do(func() { mnistSplits, mnistErr = LoadMNIST() })
	if mnistErr != nil {
		t.Fatal(mnistErr)
	}
	return mnistSplits
}

// testFashion returns Fashion-MNIST, skipping the test only when the
// Debian package is not installed (CI installs it).
func testFashion(t *testing.T) *Splits {
	t.Helper()
	if os.Getenv(FashionMNISTDirEnv) == "" {
		if _, err := os.Stat(FashionMNISTDefaultDir); os.IsNotExist(err) {
			t.Skipf("Fashion-MNIST is not installed: %s is missing (apt-get install %s)", FashionMNISTDefaultDir, FashionMNISTPackage)
		}
	}
	fashionOnce.Do(func() { fashionSplits, fashionErr = LoadFashionMNIST() })
	if fashionErr != nil {
		t.Fatal(fashionErr)
	}
	return fashionSplits
}

// splitWant is what a decoded split must be. The checksums are SHA-256 of
// the raw pixel bytes and of the label bytes, computed independently of
// this package (Python's gzip and hashlib on the same files, skipping the
// 16- and 8-byte idx headers and slicing at image 50,000); the label counts
// come from the same script.
type splitWant struct {
	n              int
	pixels, labels string
	labelCounts    [10]int
	pixelSum       uint64
}

func checkSplit(t *testing.T, m *Images, want splitWant) {
	t.Helper()
	if m.Len() != want.n || m.Height != 28 || m.Width != 28 || m.Channels != 1 || m.Dim() != 784 {
		t.Fatalf("%s: %d images of %d×%d×%d, want %d of 28×28×1", m.Name, m.Len(), m.Height, m.Width, m.Channels, want.n)
	}
	if len(m.Pixels) != want.n*784 || len(m.Labels) != want.n {
		t.Fatalf("%s: %d pixel bytes and %d labels, want %d and %d", m.Name, len(m.Pixels), len(m.Labels), want.n*784, want.n)
	}
	p, l := m.Checksum()
	if p != want.pixels {
		t.Errorf("%s: pixel SHA-256 %s, want %s", m.Name, p, want.pixels)
	}
	if l != want.labels {
		t.Errorf("%s: label SHA-256 %s, want %s", m.Name, l, want.labels)
	}
	var counts [10]int
	for _, c := range m.Labels {
		counts[c]++
	}
	if counts != want.labelCounts {
		t.Errorf("%s: label counts %v, want %v", m.Name, counts, want.labelCounts)
	}
	if want.pixelSum != 0 {
		// Mean is computed from integer sums, so Σ_j mean_j·255·N is
		// the pixel sum up to the rounding of one division per pixel.
		var s float64
		for _, v := range m.Mean() {
			s += v * 255 * float64(m.Len())
		}
		if math.Abs(s-float64(want.pixelSum)) > 1e-9*float64(want.pixelSum) {
			t.Errorf("%s: Σ mean·255·N = %.1f, want the pixel sum %d", m.Name, s, want.pixelSum)
		}
	}
}

func TestMNISTSplits(t *testing.T) {
	s := testMNIST(t)
	checkSplit(t, s.Train, splitWant{50_000,
		"c80ceb24eedca80f31cfca280b8fb911cbb41b9990f998bebd40e26b1ab6d0f8",
		"6072d13d0c3b831e9e4dc3ba693426579504082fc45c186db0f74c0a3092638d",
		[10]int{4932, 5678, 4968, 5101, 4859, 4506, 4951, 5175, 4842, 4988}, 1309089051})
	checkSplit(t, s.Valid, splitWant{10_000,
		"2b079632b0defaf508a5ebf8c4ac1e18ce15c8b337da087e9c3e1c84c618d244",
		"f46875b7c22368a38a50c5c7639c3842341b81fe4d628c55fa1818e21e96ab3b",
		[10]int{991, 1064, 990, 1030, 983, 915, 967, 1090, 1009, 961}, 258209494})
	// The test label counts are the well-known ones (980 zeros, 1135 ones, …).
	checkSplit(t, s.Test, splitWant{10_000,
		"6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
		"ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
		[10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, 264923200})
	for _, sp := range []Split{Train, Valid, Test} {
		if m, err := s.Get(sp); err != nil || m.Name != "mnist/"+sp.String() {
			t.Errorf("Get(%v) = %v, %v", sp, m, err)
		}
	}
}

func TestFashionMNISTSplits(t *testing.T) {
	s := testFashion(t)
	balanced := func(k int) [10]int {
		var c [10]int
		for i := range c {
			c[i] = k
		}
		return c
	}
	checkSplit(t, s.Train, splitWant{60_000,
		"2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
		"657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
		balanced(6000), 3431114169})
	checkSplit(t, s.Test, splitWant{10_000,
		"c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
		"3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
		balanced(1000), 573469082})
	if s.Valid != nil {
		t.Errorf("Fashion-MNIST has a Valid split of %d images, want none", s.Valid.Len())
	}
	if _, err := s.Get(Valid); err == nil || !strings.Contains(err.Error(), "no valid split") {
		t.Errorf("Get(Valid) error %v, want one saying there is no valid split", err)
	}
}

// The static set is a pure function of the gray levels and
// StaticMNISTSeed: pinned checksums (of this package's draw, to catch any
// change of it), bytes 0 or 255, labels kept, and the fraction of ones
// matching the mean intensity within 5 standard errors.
func TestStaticMNIST(t *testing.T) {
	s := testMNIST(t)
	st := staticMNIST(s)
	want := map[Split]string{
		Train: "41ff31e3e5518ee86fff0df6d0d1388876b568f12a4113f4380b4d63b99b07e5",
		Valid: "5a3522eb178a994b13c196f21b4d46e05ae54fbe8b7b7bd2061e5391707b20e6",
		Test:  "602fb07078165990ac068019352fbe50b51e52ad03721df6823cde051deb1a56",
	}
	for sp, sum := range want {
		m, _ := st.Get(sp)
		gray, _ := s.Get(sp)
		if p, _ := m.Checksum(); p != sum {
			t.Errorf("%s: pixel SHA-256 %s, want %s", m.Name, p, sum)
		}
		if m.Name != "static-mnist/"+sp.String() || m.Len() != gray.Len() || !bytes.Equal(m.Labels, gray.Labels) {
			t.Errorf("%s: %d images, labels equal %v; want %d images and the gray set's labels", m.Name, m.Len(), bytes.Equal(m.Labels, gray.Labels), gray.Len())
		}
		var ones, p, v float64
		for j, b := range m.Pixels {
			q := intensity[gray.Pixels[j]]
			switch {
			case b == 255:
				ones++
			case b != 0:
				t.Fatalf("%s: byte %d is %d, want 0 or 255", m.Name, j, b)
			}
			if (q == 0 && b != 0) || (q == 1 && b != 255) {
				t.Fatalf("%s: byte %d is %d from intensity %v", m.Name, j, b, q)
			}
			p += q
			v += q * (1 - q)
		}
		if se := math.Sqrt(v); math.Abs(ones-p) > 5*se {
			t.Errorf("%s: %v ones, want %v ± 5·%v", m.Name, ones, p, se)
		}
	}
	// Binarize on the static set reproduces it, whatever the generator.
	dst := make([]float64, 3*784)
	st.Test.Binarize(rand.New(rand.NewPCG(9, 9)), dst, []int{0, 17, 9999})
	want2 := make([]float64, len(dst))
	st.Test.Intensities(want2, []int{0, 17, 9999})
	if !slices.Equal(dst, want2) {
		t.Error("Binarize on the static set differs from its intensities")
	}
}

// The mean of many dynamic binarizations of each pixel converges to its
// intensity: per pixel within 5 standard errors √(p(1−p)/R), and exactly
// for intensities 0 and 1. The same generator state gives the same batch.
func TestBinarizeStatistics(t *testing.T) {
	m := testMNIST(t).Test
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7, 42, 9999}
	const reps = 2000
	d := m.Dim()
	rng := rand.New(rand.NewPCG(1, 2))
	sum := make([]float64, len(idx)*d)
	dst := make([]float64, len(idx)*d)
	for r := 0; r < reps; r++ {
		m.Binarize(rng, dst, idx)
		for j, v := range dst {
			if v != 0 && v != 1 {
				t.Fatalf("binarized value %v", v)
			}
			sum[j] += v
		}
	}
	p := make([]float64, len(idx)*d)
	m.Intensities(p, idx)
	var worst float64
	for j, q := range p {
		mean := sum[j] / reps
		if q == 0 || q == 1 {
			if mean != q {
				t.Fatalf("value %d: mean %v of binarizations of intensity %v", j, mean, q)
			}
			continue
		}
		z := math.Abs(mean-q) / math.Sqrt(q*(1-q)/reps)
		worst = max(worst, z)
		if z > 5 {
			t.Errorf("value %d: mean %v, intensity %v: %.1f standard errors", j, mean, q, z)
		}
	}
	t.Logf("largest deviation %.2f standard errors over %d values", worst, len(p))

	a := m.BinarizedBatch(rand.New(rand.NewPCG(3, 4)), idx)
	b := m.BinarizedBatch(rand.New(rand.NewPCG(3, 4)), idx)
	c := m.BinarizedBatch(rand.New(rand.NewPCG(3, 5)), idx)
	if !slices.Equal(a.Shape(), []int{len(idx), d}) || !slices.Equal(a.Data(), b.Data()) || slices.Equal(a.Data(), c.Data()) {
		t.Errorf("BinarizedBatch: shape %v, same seed equal %v, other seed equal %v", a.Shape(), slices.Equal(a.Data(), b.Data()), slices.Equal(a.Data(), c.Data()))
	}
}

// Dequantized values lie in [x/256, (x+1)/256) and average to (x + ½)/256
// within 5 standard errors (u has variance 1/12).
func TestDequantize(t *testing.T) {
	m := testMNIST(t).Test
	idx := []int{3, 1234}
	const reps = 2000
	d := m.Dim()
	rng := rand.New(rand.NewPCG(5, 6))
	sum := make([]float64, len(idx)*d)
	for r := 0; r < reps; r++ {
		y := m.DequantizedBatch(rng, idx).Data()
		for j, v := range y {
			x := float64(m.Pixels[idx[j/d]*d+j%d])
			if v < x/256 || v >= (x+1)/256 {
				t.Fatalf("value %d: %v outside [%v, %v)", j, v, x/256, (x+1)/256)
			}
			sum[j] += v
		}
	}
	se := math.Sqrt(1.0/12/reps) / 256
	for j, s := range sum {
		x := float64(m.Pixels[idx[j/d]*d+j%d])
		if want := (x + 0.5) / 256; math.Abs(s/reps-want) > 5*se {
			t.Fatalf("value %d: mean %v, want %v ± 5·%v", j, s/reps, want, se)
		}
	}
	// DequantizedMean is E[y] from the exact mean intensity.
	mean, dq := m.Mean(), m.DequantizedMean()
	for j := range mean {
		if want := (mean[j]*255 + 0.5) / 256; math.Abs(dq[j]-want) > 1e-15 {
			t.Fatalf("DequantizedMean[%d] = %v, want %v", j, dq[j], want)
		}
	}
}

// Mean, MeanLogit, Slice and the batch shapes on a small hand-made set.
func TestImagesSmall(t *testing.T) {
	m := &Images{Name: "tiny", Height: 1, Width: 3, Channels: 1,
		Pixels: []uint8{0, 255, 51, 0, 255, 102}, Labels: []uint8{7, 8}}
	if m.Len() != 2 || m.Dim() != 3 {
		t.Fatalf("Len %d, Dim %d", m.Len(), m.Dim())
	}
	if got, want := m.Mean(), []float64{0, 1, 153.0 / 510}; !slices.Equal(got, want) {
		t.Errorf("Mean = %v, want %v", got, want)
	}
	lg := m.MeanLogit(0)
	c := DefaultMeanClip
	want := []float64{math.Log(c / (1 - c)), math.Log((1 - c) / c), math.Log(0.3 / 0.7)}
	for j := range want {
		if math.Abs(lg[j]-want[j]) > 1e-12 {
			t.Errorf("MeanLogit[%d] = %v, want %v", j, lg[j], want[j])
		}
	}
	s := m.Slice(1, 2, "tail")
	if s.Len() != 1 || !slices.Equal(s.Image(0), []uint8{0, 255, 102}) || !slices.Equal(s.Labels, []uint8{8}) {
		t.Errorf("Slice(1, 2): %v %v", s.Pixels, s.Labels)
	}
	b := m.Batch([]int{1, 0, 1})
	if !slices.Equal(b.Shape(), []int{3, 3}) || !slices.Equal(b.Data(), []float64{0, 1, 0.4, 0, 1, 0.2, 0, 1, 0.4}) {
		t.Errorf("Batch: shape %v data %v", b.Shape(), b.Data())
	}
	for name, f := range map[string]func(){
		"Intensities": func() { m.Intensities(make([]float64, 5), []int{0, 1}) },
		"Binarize":    func() { m.Binarize(rand.New(rand.NewPCG(1, 1)), make([]float64, 3), []int{2}) },
		"Dequantize":  func() { m.Dequantize(nil, make([]float64, 3), []int{0}) },
		"Slice":       func() { m.Slice(1, 3, "") },
		"MeanLogit":   func() { m.MeanLogit(0.5) },
	} {
		if msg := panicMessage(f); !strings.HasPrefix(msg, "data: Images."+name) {
			t.Errorf("%s: panic %q, want one starting with %q", name, msg, "data: Images."+name)
		}
	}
}

// idxBytes builds an idx file: the magic, the sizes, the payload.
func idxBytes(magic [4]byte, dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	b.Write(magic[:])
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(payload)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Good small files decode, compressed or not; every kind of damage gives an
// error that names the file and says what is wrong, and never a panic.
func TestIDXErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	img := idxBytes([4]byte{0, 0, 8, 3}, []uint32{2, 2, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	lab := idxBytes([4]byte{0, 0, 8, 1}, []uint32{2}, []byte{3, 9})

	for _, c := range []struct{ name, img, lab string }{
		{"plain", write("img", img), write("lab", lab)},
		{"gzip", write("img.gz", gz(img)), write("lab.gz", gz(lab))},
	} {
		m, err := LoadIDX(c.img, c.lab, c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if m.Len() != 2 || m.Height != 2 || m.Width != 3 || !slices.Equal(m.Pixels, img[16:]) || !slices.Equal(m.Labels, []byte{3, 9}) {
			t.Errorf("%s: decoded %+v", c.name, m)
		}
	}

	// A payload that does not compress to a few bytes, so that cutting the
	// stream in half cuts the entries.
	big := make([]byte, 10*28*28)
	for i := range big {
		big[i] = uint8(rand.New(rand.NewPCG(uint64(i), 0)).Uint64())
	}
	gzImg := gz(idxBytes([4]byte{0, 0, 8, 3}, []uint32{10, 28, 28}, big))
	badCRC := slices.Clone(gzImg)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 in the gzip trailer
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not an idx file"},
		{"text", []byte("hello, world\n"), "not an idx file"},
		{"short-magic", []byte{0, 0}, "not an idx file"},
		{"type", idxBytes([4]byte{0, 0, 0x0d, 3}, []uint32{2, 2, 3}, nil), "entry type 0x0d"},
		{"labels-as-images", lab, "1 dimensions, want 3"},
		{"short-header", idxBytes([4]byte{0, 0, 8, 3}, []uint32{2}, nil), "truncated"},
		{"zero-size", idxBytes([4]byte{0, 0, 8, 3}, []uint32{0, 2, 3}, nil), "size 0"},
		{"huge", idxBytes([4]byte{0, 0, 8, 3}, []uint32{1 << 31, 1 << 20, 28}, nil), "more than"},
		{"truncated", img[:len(img)-1], "truncated"},
		{"trailing", append(slices.Clone(img), 0), "trailing bytes"},
		{"gzip-truncated", gzImg[:len(gzImg)/2], "truncated"},
		{"gzip-crc", badCRC, "checksum"},
		{"gzip-header", append([]byte{0x1f, 0x8b, 0}, img...), "gzip"},
	} {
		p := write(c.name, c.data)
		m, err := LoadIDX(p, "", c.name)
		if err == nil {
			t.Errorf("%s: decoded %d images, want an error", c.name, m.Len())
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, p) || !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q, want one naming %s and saying %q", c.name, msg, p, c.want)
		}
	}

	// Labels that do not match the images, or are missing.
	three := write("lab3", idxBytes([4]byte{0, 0, 8, 1}, []uint32{3}, []byte{1, 2, 3}))
	if _, err := LoadIDX(write("img2", img), three, "x"); err == nil || !strings.Contains(err.Error(), three) || !strings.Contains(err.Error(), "3 labels") {
		t.Errorf("label count mismatch: error %v", err)
	}
	missing := filepath.Join(dir, "nope")
	if _, err := LoadIDX(missing, "", "x"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error %v", err)
	}
}

// An MNIST folder with small or damaged files: LoadMNIST reports the file
// and the problem.
func TestMNISTFolderErrors(t *testing.T) {
	dir := t.TempDir()
	put := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	px := make([]byte, 2*28*28)
	put(trainImagesFile+".gz", gz(idxBytes([4]byte{0, 0, 8, 3}, []uint32{2, 28, 28}, px)))
	put(trainLabelsFile+".gz", gz(idxBytes([4]byte{0, 0, 8, 1}, []uint32{2}, []byte{1, 2})))
	put(testImagesFile, idxBytes([4]byte{0, 0, 8, 3}, []uint32{2, 28, 28}, px))
	put(testLabelsFile, idxBytes([4]byte{0, 0, 8, 1}, []uint32{2}, []byte{1, 12}))
	t.Setenv(MNISTDirEnv, dir)

	_, err := LoadMNIST()
	if p := filepath.Join(dir, testLabelsFile); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "label 12") {
		t.Errorf("bad label: error %v, want one naming %s", err, p)
	}
	put(testLabelsFile, idxBytes([4]byte{0, 0, 8, 1}, []uint32{2}, []byte{1, 2}))
	_, err = LoadMNIST()
	if p := filepath.Join(dir, trainImagesFile+".gz"); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "2 images, want 60000") {
		t.Errorf("small set: error %v, want one naming %s", err, p)
	}
	put(trainImagesFile+".gz", []byte("not gzip, not idx"))
	_, err = LoadMNIST()
	if p := filepath.Join(dir, trainImagesFile+".gz"); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("corrupt file: error %v, want one naming %s", err, p)
	}
	os.Remove(filepath.Join(dir, testImagesFile))
	_, err = LoadMNIST()
	if err == nil || !strings.Contains(err.Error(), MNISTDirEnv) || !strings.Contains(err.Error(), testImagesFile) {
		t.Errorf("missing file: error %v, want one naming %s and %s", err, MNISTDirEnv, testImagesFile)
	}
}

// MNISTDir finds the module in a module cache named by GOMODCACHE, and
// when it is nowhere the error lists the folders tried and the fix.
func TestMNISTDirLookup(t *testing.T) {
	if got := escapeModulePath(MNISTModule); got != filepath.FromSlash("github.com/petar/!go!m!n!i!s!t") {
		t.Errorf("escapeModulePath = %q", got)
	}
	empty := t.TempDir()
	t.Setenv(MNISTDirEnv, "")
	t.Setenv("HOME", empty)
	t.Setenv("GOPATH", empty)
	t.Setenv("PATH", empty) // no `go` to ask

	cache := t.TempDir()
	t.Setenv("GOMODCACHE", cache)
	if _, err := MNISTDir(); err == nil || !strings.Contains(err.Error(), cache) || !strings.Contains(err.Error(), "go mod download "+MNISTModule) || !strings.Contains(err.Error(), MNISTDirEnv) {
		t.Errorf("empty caches: error %v, want one listing %s and the fix", err, cache)
	}

	want := filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t@"+MNISTModuleVersion, "data")
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range mnistFiles {
		if err := os.WriteFile(filepath.Join(want, f+".gz"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := MNISTDir(); err != nil || got != want {
		t.Errorf("MNISTDir() = %q, %v; want %q", got, err, want)
	}
}

// The fallback version is the one go.mod requires.
func TestMNISTModuleVersionMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "require" {
			f = f[1:]
		}
		if len(f) >= 2 && f[0] == MNISTModule {
			found = true
			if f[1] != MNISTModuleVersion {
				t.Errorf("go.mod requires %s %s, MNISTModuleVersion is %s", MNISTModule, f[1], MNISTModuleVersion)
			}
		}
	}
	if !found {
		t.Errorf("go.mod does not require %s", MNISTModule)
	}
}

// A missing Fashion-MNIST names the Debian package.
func TestFashionMNISTMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(FashionMNISTDirEnv, dir)
	_, err := LoadFashionMNIST()
	if err == nil || !strings.Contains(err.Error(), FashionMNISTPackage) || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %v, want one naming %s and %s", err, dir, FashionMNISTPackage)
	}
	if _, err := LoadImageSet("celeba"); err == nil || !strings.Contains(err.Error(), NameStaticMNIST) {
		t.Errorf("unknown name: error %v", err)
	}
}

// No input makes the idx decoder panic; whatever it accepts is exactly the
// entries its header declares.
func FuzzDecodeIDX(f *testing.F) {
	img := idxBytes([4]byte{0, 0, 8, 3}, []uint32{2, 2, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add(img)
	f.Add(gz(img))
	f.Add(img[:10])
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := decodeIDX(bytes.NewReader(b), 3)
		if err != nil {
			return
		}
		if len(idx.dims) != 3 || len(idx.data) != idx.dims[0]*idx.dims[1]*idx.dims[2] {
			t.Fatalf("dims %v with %d entries", idx.dims, len(idx.data))
		}
	})
}

// The cost of one training step's data: a 128-image dynamic binarization.
func BenchmarkBinarizedBatch128(b *testing.B) {
	m := testMNIST(b).Train
	bt := &Batcher{N: m.Len(), Size: 128, Seed: 1}
	rng := rand.New(rand.NewPCG(1, 2))
	dst := make([]float64, 128*m.Dim())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Binarize(rng, dst, bt.Indices(i))
	}
}
