package data

import (
	"fmt"
	"image"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CelebA (Table 2's third column) has no offline source here: no Go module
// or Debian package ships it. LoadImageDir reads a folder of images a user
// already has, so that the continuous-data code runs on it unchanged.

// DefaultImageSize is the side LoadImageDir expects when given 0, the 64×64
// of the paper's CelebA experiments.
const DefaultImageSize = 64

// CelebADirEnv names an environment variable that commands read as the
// folder of CelebA images (for LoadImageDir) when no folder is given.
const CelebADirEnv = "EIMKIT_CELEBA_DIR"

// ImageDirFiles returns the names of the files LoadImageDir reads in dir,
// in the order it reads them, without decoding any: a caller can size a
// data set, or split it by name, before loading it. A folder that cannot
// be read or has no images gives an error naming it.
func ImageDirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".png", ".jpg", ".jpeg":
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("data: %s: no .png, .jpg or .jpeg files", dir)
	}
	slices.Sort(names)
	return names, nil
}

// LoadImageDir decodes every PNG or JPEG file in dir (by the extensions
// .png, .jpg, .jpeg in any case; other files, folders and names starting
// with "." are skipped) in lexical order of file names, as size×size RGB
// images: Channels is 3, each pixel its 8-bit red, green and blue (a
// colour with transparency is taken as premultiplied over black, as the
// image package reports it). Images must already be size×size: the
// authors' CelebA preprocessing (a central 160×160 crop resized to 64×64)
// is the user's to apply. A size of 0 means DefaultImageSize.
//
// A folder with no images, a file that does not decode, or an image of
// another size gives an error naming the file.
func LoadImageDir(dir string, size int) (*Images, error) {
	if size == 0 {
		size = DefaultImageSize
	}
	if size < 0 {
		return nil, fmt.Errorf("data: LoadImageDir: image size %d < 0", size)
	}
	names, err := ImageDirFiles(dir)
	if err != nil {
		return nil, err
	}

	const channels = 3
	d := size * size * channels
	m := &Images{Name: filepath.Base(dir), Height: size, Width: size, Channels: channels,
		Pixels: make([]uint8, 0, len(names)*d)}
	for _, name := range names {
		p := filepath.Join(dir, name)
		img, err := decodeImageFile(p)
		if err != nil {
			return nil, err
		}
		b := img.Bounds()
		if b.Dx() != size || b.Dy() != size {
			return nil, fmt.Errorf("data: %s: image is %d×%d, want %d×%d", p, b.Dx(), b.Dy(), size, size)
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				m.Pixels = append(m.Pixels, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
			}
		}
	}
	return m, nil
}

// decodeImageFile decodes one PNG or JPEG file; its errors name the file.
func decodeImageFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("data: %s: not a decodable PNG or JPEG image: %v", path, err)
	}
	if format != "png" && format != "jpeg" {
		return nil, fmt.Errorf("data: %s: %s image, want PNG or JPEG", path, format)
	}
	return img, nil
}
