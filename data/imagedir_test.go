package data

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(strings.ToLower(path), ".png") {
		err = png.Encode(f, img)
	} else {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 100})
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A folder of generated 64×64 images: PNGs decode exactly (RGB and gray),
// a flat JPEG nearly so, files are read in name order, other files are
// skipped; a wrong size, a corrupt file or no images are errors naming
// the file or folder.
func TestLoadImageDir(t *testing.T) {
	dir := t.TempDir()
	const n = DefaultImageSize
	rgb := image.NewRGBA(image.Rect(0, 0, n, n))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			rgb.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	gray := image.NewGray(image.Rect(0, 0, n, n))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
	}
	flat := image.NewRGBA(image.Rect(0, 0, n, n))
	for i := 0; i < len(flat.Pix); i += 4 {
		copy(flat.Pix[i:], []uint8{200, 100, 50, 255})
	}
	writeImage(t, filepath.Join(dir, "b.png"), rgb)
	writeImage(t, filepath.Join(dir, "a.PNG"), gray)
	writeImage(t, filepath.Join(dir, "c.jpg"), flat)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("skip me"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden.png"), []byte("skip me too"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub.png"), 0o755)

	m, err := LoadImageDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 3 || m.Height != n || m.Width != n || m.Channels != 3 || m.Labels != nil {
		t.Fatalf("%d images of %d×%d×%d", m.Len(), m.Height, m.Width, m.Channels)
	}
	if names, err := ImageDirFiles(dir); err != nil || !slices.Equal(names, []string{"a.PNG", "b.png", "c.jpg"}) {
		t.Errorf("ImageDirFiles: %v, %v; want the three images in LoadImageDir's order", names, err)
	}
	a, b, c := m.Image(0), m.Image(1), m.Image(2)
	for p := 0; p < n*n; p++ {
		g := gray.Pix[p]
		if !slices.Equal(a[3*p:3*p+3], []uint8{g, g, g}) {
			t.Fatalf("a.PNG pixel %d: %v, want gray %d", p, a[3*p:3*p+3], g)
		}
		x, y := p%n, p/n
		if !slices.Equal(b[3*p:3*p+3], []uint8{uint8(x), uint8(y), uint8(x + y)}) {
			t.Fatalf("b.png pixel (%d, %d): %v", x, y, b[3*p:3*p+3])
		}
		for k, want := range []int{200, 100, 50} {
			if d := int(c[3*p+k]) - want; d < -3 || d > 3 {
				t.Fatalf("c.jpg pixel %d channel %d: %d, want %d ± 3", p, k, c[3*p+k], want)
			}
		}
	}

	small := image.NewRGBA(image.Rect(0, 0, 32, 64))
	writeImage(t, filepath.Join(dir, "d.png"), small)
	if _, err := LoadImageDir(dir, 0); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "d.png")) || !strings.Contains(err.Error(), "32×64") {
		t.Errorf("wrong size: error %v", err)
	}
	os.Remove(filepath.Join(dir, "d.png"))
	os.WriteFile(filepath.Join(dir, "e.jpeg"), []byte("\xff\xd8 not really"), 0o644)
	if _, err := LoadImageDir(dir, 0); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "e.jpeg")) {
		t.Errorf("corrupt file: error %v", err)
	}
	empty := t.TempDir()
	if _, err := LoadImageDir(empty, 0); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty folder: error %v", err)
	}
	if _, err := ImageDirFiles(empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("ImageDirFiles of an empty folder: error %v", err)
	}
	if _, err := LoadImageDir(filepath.Join(empty, "missing"), 0); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing folder: error %v", err)
	}
}
