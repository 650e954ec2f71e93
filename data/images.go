package data

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// Images is a set of 8-bit images, stored as their raw bytes so that a set
// of 60,000 MNIST digits takes 47 MB rather than 376 MB of float64. Image i
// is Pixels[i·D : (i+1)·D] with D = Height·Width·Channels, row-major with
// the channel last (HWC); pixel intensities are byte/255 ∈ [0, 1].
//
// The batch methods turn bytes into float64 rows on demand, so a training
// loop asks for the rows it needs with the preprocessing it wants:
//
//	Batch               x/255                       (intensities in [0, 1])
//	BinarizedBatch      b ~ Bernoulli(x/255)        (dynamic binarization)
//	DequantizedBatch    y = (x + u)/256, u ~ U[0,1) (uniform dequantization)
//
// An Images value is read-only once loaded: the methods never write to it,
// so one value may be shared between goroutines, each with its own
// *rand.Rand.
type Images struct {
	// Name says where the images come from, e.g. "mnist/train"; error
	// messages and results use it.
	Name string
	// Height, Width and Channels give the shape of one image.
	Height, Width, Channels int
	// Pixels holds the images' bytes, [N, D] row-major.
	Pixels []uint8
	// Labels holds one class label per image, or is nil for unlabelled
	// images.
	Labels []uint8
}

// Len returns the number of images N.
func (m *Images) Len() int {
	d := m.Dim()
	if d == 0 {
		return 0
	}
	return len(m.Pixels) / d
}

// Dim returns the number of values in one image, D = Height·Width·Channels.
func (m *Images) Dim() int { return m.Height * m.Width * m.Channels }

// Image returns the bytes of image i, sharing the backing array.
// It panics if i is out of range.
func (m *Images) Image(i int) []uint8 {
	m.checkIndex("Image", i)
	d := m.Dim()
	return m.Pixels[i*d : (i+1)*d : (i+1)*d]
}

// Slice returns images lo … hi−1 as a new Images value that shares the
// pixel and label arrays. It panics unless 0 ≤ lo ≤ hi ≤ Len().
func (m *Images) Slice(lo, hi int, name string) *Images {
	if lo < 0 || hi < lo || hi > m.Len() {
		panic(fmt.Sprintf("data: Images.Slice: range [%d, %d) of %d images", lo, hi, m.Len()))
	}
	d := m.Dim()
	s := &Images{Name: name, Height: m.Height, Width: m.Width, Channels: m.Channels,
		Pixels: m.Pixels[lo*d : hi*d : hi*d]}
	if m.Labels != nil {
		s.Labels = m.Labels[lo:hi:hi]
	}
	return s
}

// Intensities fills dst, a row-major [len(idx), D] slice, with the pixel
// intensities x/255 of the images idx. It panics if len(dst) is not
// len(idx)·D or an index is out of range.
func (m *Images) Intensities(dst []float64, idx []int) {
	d := m.checkFill("Intensities", dst, idx)
	for r, i := range idx {
		row := dst[r*d : (r+1)*d]
		for j, b := range m.Pixels[i*d : (i+1)*d] {
			row[j] = intensity[b]
		}
	}
}

// Binarize fills dst, a row-major [len(idx), D] slice, with a fresh
// dynamic binarization of the images idx: each value is 1 with probability
// x/255 and 0 otherwise, independently, drawn with rng: one rng.Float64
// per pixel strictly between 0 and 255, in row-major order, so a given rng
// state gives bitwise the same batch; pixels at 0 and 255 give 0 and 1
// without a draw (most of an MNIST digit, which makes binarizing several
// times faster). It panics if len(dst) is not len(idx)·D, an index is out
// of range or rng is nil.
func (m *Images) Binarize(rng *rand.Rand, dst []float64, idx []int) {
	checkRNG("Binarize", rng)
	d := m.checkFill("Binarize", dst, idx)
	for r, i := range idx {
		row := dst[r*d : (r+1)*d]
		for j, b := range m.Pixels[i*d : (i+1)*d] {
			row[j] = binarize(rng, b)
		}
	}
}

// Dequantize fills dst, a row-major [len(idx), D] slice, with uniformly
// dequantized intensities of the images idx,
//
//	y = (x + u) / 256,  u ~ U[0, 1),
//
// drawn with rng (one rng.Float64 per value, row-major), so y ∈ [0, 1) and
// the density of y on [0, 1)^D is 256^D times the probability of the
// integer image x (see LogitTransform for the logit space of Table 2). It
// panics if len(dst) is not len(idx)·D, an index is out of range or rng is
// nil.
func (m *Images) Dequantize(rng *rand.Rand, dst []float64, idx []int) {
	checkRNG("Dequantize", rng)
	d := m.checkFill("Dequantize", dst, idx)
	for r, i := range idx {
		row := dst[r*d : (r+1)*d]
		for j, b := range m.Pixels[i*d : (i+1)*d] {
			row[j] = (float64(b) + rng.Float64()) / 256
		}
	}
}

// Batch returns the intensities x/255 of the images idx as a [len(idx), D]
// tensor (see Intensities).
func (m *Images) Batch(idx []int) *ad.Tensor {
	dst := make([]float64, len(idx)*m.Dim())
	m.Intensities(dst, idx)
	return ad.New(dst, len(idx), m.Dim())
}

// BinarizedBatch returns a fresh dynamic binarization of the images idx as
// a [len(idx), D] tensor of zeros and ones (see Binarize).
func (m *Images) BinarizedBatch(rng *rand.Rand, idx []int) *ad.Tensor {
	dst := make([]float64, len(idx)*m.Dim())
	m.Binarize(rng, dst, idx)
	return ad.New(dst, len(idx), m.Dim())
}

// DequantizedBatch returns the dequantized intensities (x + u)/256 of the
// images idx as a [len(idx), D] tensor (see Dequantize).
func (m *Images) DequantizedBatch(rng *rand.Rand, idx []int) *ad.Tensor {
	dst := make([]float64, len(idx)*m.Dim())
	m.Dequantize(rng, dst, idx)
	return ad.New(dst, len(idx), m.Dim())
}

// StaticBinarize returns a binarized copy of the images, drawn once with
// rng: each byte becomes 255 with probability x/255 and 0 otherwise (the
// same draws, in the same order, as Binarize over all images in turn). The
// copy's intensities are then 0 or 1, and Binarize on it is deterministic,
// so a training loop written for dynamic binarization trains on the static
// set unchanged. Labels are shared. It panics if rng is nil.
func (m *Images) StaticBinarize(rng *rand.Rand, name string) *Images {
	checkRNG("StaticBinarize", rng)
	px := make([]uint8, len(m.Pixels))
	for j, b := range m.Pixels {
		px[j] = 255 * uint8(binarize(rng, b))
	}
	return &Images{Name: name, Height: m.Height, Width: m.Width, Channels: m.Channels,
		Pixels: px, Labels: m.Labels}
}

// Mean returns the per-pixel mean intensity over the images,
//
//	m_j = (1/N) Σᵢ xᵢⱼ / 255,
//
// computed exactly from integer sums. It is the training-set mean the
// authors' code initializes decoder biases from (see MeanLogit).
// It panics if there are no images.
func (m *Images) Mean() []float64 {
	n, d := m.Len(), m.Dim()
	if n == 0 {
		panic(fmt.Sprintf("data: Images.Mean: %s holds no images", m.Name))
	}
	sum := make([]uint64, d)
	for i := 0; i < n; i++ {
		for j, b := range m.Pixels[i*d : (i+1)*d] {
			sum[j] += uint64(b)
		}
	}
	mean := make([]float64, d)
	for j, s := range sum {
		mean[j] = float64(s) / (255 * float64(n))
	}
	return mean
}

// DefaultMeanClip is the clip MeanLogit applies when given 0, the value of
// the authors' code (eim/models/base.py, conditional_bernoulli).
const DefaultMeanClip = 1e-4

// MeanLogit returns the logit of the clipped mean intensity,
//
//	b_j = logit(clip(m_j, c, 1 − c)) = log(m̃_j / (1 − m̃_j)),
//
// the offset the authors' Bernoulli decoders add to their output logits so
// that an untrained decoder already predicts the training mean. A clip c of
// 0 means DefaultMeanClip; c must lie in [0, ½). It panics if there are no
// images or c is out of range.
func (m *Images) MeanLogit(c float64) []float64 {
	if c == 0 {
		c = DefaultMeanClip
	}
	if !(c > 0 && c < 0.5) {
		panic(fmt.Sprintf("data: Images.MeanLogit: clip %v outside (0, 0.5)", c))
	}
	mean := m.Mean()
	for j, v := range mean {
		v = min(max(v, c), 1-c)
		mean[j] = math.Log(v) - math.Log1p(-v)
	}
	return mean
}

// DequantizedMean returns the per-pixel mean of the dequantized values
// y = (x + u)/256, exactly E[y_j] = ((1/N) Σᵢ xᵢⱼ + ½) / 256. The authors'
// code shifts its continuous models by this mean (in logit space).
// It panics if there are no images.
func (m *Images) DequantizedMean() []float64 {
	mean := m.Mean()
	for j, v := range mean {
		mean[j] = (v*255 + 0.5) / 256
	}
	return mean
}

// Checksum returns the hex SHA-256 of the raw pixel bytes, followed by
// the label bytes when there are labels: a fingerprint of the decoded
// data independent of how the files were compressed.
func (m *Images) Checksum() (pixels, labels string) {
	p := sha256.Sum256(m.Pixels)
	pixels = hex.EncodeToString(p[:])
	if m.Labels != nil {
		l := sha256.Sum256(m.Labels)
		labels = hex.EncodeToString(l[:])
	}
	return pixels, labels
}

// binarize returns 1 with probability b/255 and 0 otherwise, drawing from
// rng only when the outcome is random.
func binarize(rng *rand.Rand, b uint8) float64 {
	switch b {
	case 0:
		return 0
	case 255:
		return 1
	}
	if rng.Float64() < intensity[b] {
		return 1
	}
	return 0
}

// intensity[b] is b/255, the intensity of byte b; a table keeps the batch
// loops free of divisions and makes Binarize's threshold exact.
var intensity = func() (t [256]float64) {
	for b := range t {
		t[b] = float64(b) / 255
	}
	return t
}()

func (m *Images) checkIndex(op string, i int) {
	if i < 0 || i >= m.Len() {
		panic(fmt.Sprintf("data: Images.%s: index %d of %d images", op, i, m.Len()))
	}
}

// checkFill panics on caller bugs in a fill call and returns D.
func (m *Images) checkFill(op string, dst []float64, idx []int) int {
	d := m.Dim()
	if len(dst) != len(idx)*d {
		panic(fmt.Sprintf("data: Images.%s: dst has %d values, want [%d, %d] = %d", op, len(dst), len(idx), d, len(idx)*d))
	}
	n := m.Len()
	for _, i := range idx {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("data: Images.%s: index %d of %d images", op, i, n))
		}
	}
	return d
}

func checkRNG(op string, rng *rand.Rand) {
	if rng == nil {
		panic(fmt.Sprintf("data: Images.%s: nil *rand.Rand", op))
	}
}
