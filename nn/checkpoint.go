package nn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Checkpoint holds everything needed to resume a training run bit for bit:
// the step, the parameter values, the optimizer's state and the random
// stream. Any of Params, Adam and RNG may be nil: Save then records its
// absence and Load leaves it alone. When both Params and Adam are given,
// Adam is the optimizer of exactly those parameters: once it has stepped,
// its moments are those of Params.Tensors(), in order.
type Checkpoint struct {
	Step   int               // the caller's step count (often Adam.StepCount())
	Params *Params           // values restored in place, matched by name and order
	Adam   *Adam             // hyperparameters and state; Schedule is not saved
	RNG    *rand.PCG         // state of the caller's random stream
	Meta   map[string]string // free-form: model name, target, flags
}

const (
	ckptMagic   = "EIMKITCK"
	ckptVersion = 1
	headerLen   = len(ckptMagic) + 4 + 8 // magic, version, body length
	trailerLen  = 4                      // CRC-32C
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error Load returns for a file that is not
// a valid checkpoint (bad magic, unknown version, truncated, checksum
// mismatch, malformed body); test for it with errors.Is.
var ErrCorrupt = errors.New("corrupt checkpoint")

// ErrMismatch is wrapped by the errors Load returns for a valid checkpoint
// that does not fit the caller's objects (other parameter names or shapes,
// a missing section).
var ErrMismatch = errors.New("checkpoint does not match")

// Save writes c to path atomically: it writes a temporary file in the same
// directory, syncs it, renames it over path and syncs the directory, so
// path holds either the old or the new checkpoint, never a partial one. On
// an error the temporary file is removed. It panics if c is nil or if
// c.Adam's state does not fit c.Params.
func Save(path string, c *Checkpoint) (err error) {
	if c == nil {
		panic("nn: Save: nil checkpoint")
	}
	if c.Params != nil && c.Adam != nil && c.Adam.m != nil {
		if err := adamFits(c.Adam.m, c.Params); err != nil {
			panic("nn: Save: " + err.Error())
		}
	}
	buf := encodeCheckpoint(c)
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("nn: Save %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("nn: Save %s: %w", path, err)
		}
	}()
	if _, err = f.Write(buf); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename itself durable. Not every system can sync a
	// directory; the checkpoint is in place either way, so this is best
	// effort.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Load reads the checkpoint at path into c. It restores, for each of
// c.Params, c.Adam and c.RNG that is not nil:
//
//   - Params: the values of every tensor, copied into its Data in place.
//     The file must hold the same names, in the same order, with the same
//     shapes.
//   - Adam: LR, Beta1, Beta2, Eps, the step count and the moments
//     (Schedule, a function, is left as the caller set it). With Params
//     also given, the moments must fit its tensors.
//   - RNG: the generator's state.
//
// It always sets c.Step and replaces c.Meta. The whole file is read,
// checked and decoded before anything is changed: on any error c and the
// objects it points to are left as they were. Errors for a damaged file
// wrap ErrCorrupt; errors for a file that does not fit c wrap ErrMismatch.
// It panics if c is nil.
func Load(path string, c *Checkpoint) error {
	if c == nil {
		panic("nn: Load: nil checkpoint")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("nn: Load: %w", err)
	}
	if err := loadBytes(b, c); err != nil {
		return fmt.Errorf("nn: Load %s: %w", path, err)
	}
	return nil
}

// decoded is a checkpoint parsed into temporaries.
type decoded struct {
	step int64
	meta map[string]string

	hasParams bool
	names     []string
	dims      [][]int
	vals      [][]float64

	hasAdam         bool
	lr, b1, b2, eps float64
	adamStep        int64
	m, v            [][]float64 // nil if and only if adamStep is 0

	hasRNG bool
	rng    rand.PCG
}

// loadBytes validates b fully against c, then commits it into c.
func loadBytes(b []byte, c *Checkpoint) error {
	d, err := decodeCheckpoint(b)
	if err != nil {
		return err
	}
	if err := d.check(c); err != nil {
		return err
	}
	d.commit(c)
	return nil
}

// check reports whether d fits the caller's objects in c.
func (d *decoded) check(c *Checkpoint) error {
	if d.step > math.MaxInt || d.step < math.MinInt {
		return fmt.Errorf("%w: step %d out of range", ErrCorrupt, d.step)
	}
	if c.Params != nil {
		if !d.hasParams {
			return fmt.Errorf("%w: the file holds no parameters", ErrMismatch)
		}
		names, ts := c.Params.Names(), c.Params.Tensors()
		if len(names) != len(d.names) {
			return fmt.Errorf("%w: the file holds %d parameter tensors %v, the caller has %d %v",
				ErrMismatch, len(d.names), shortList(d.names), len(names), shortList(names))
		}
		for i, name := range names {
			if d.names[i] != name {
				return fmt.Errorf("%w: parameter %d is %q in the file, %q in the caller's set", ErrMismatch, i, d.names[i], name)
			}
			if !slices.Equal(d.dims[i], ts[i].Shape()) {
				return fmt.Errorf("%w: parameter %q has shape %v in the file, %v in the caller's set", ErrMismatch, name, d.dims[i], ts[i].Shape())
			}
		}
	}
	if c.Adam != nil {
		if !d.hasAdam {
			return fmt.Errorf("%w: the file holds no optimizer state", ErrMismatch)
		}
		if d.adamStep > math.MaxInt {
			return fmt.Errorf("%w: Adam step %d out of range", ErrCorrupt, d.adamStep)
		}
	}
	if c.Params != nil && c.Adam != nil && d.m != nil {
		if err := adamFits(d.m, c.Params); err != nil {
			return fmt.Errorf("%w: %v", ErrMismatch, err)
		}
	}
	if c.RNG != nil && !d.hasRNG {
		return fmt.Errorf("%w: the file holds no random-number generator state", ErrMismatch)
	}
	return nil
}

// adamFits reports whether Adam moments m belong to the tensors of ps.
func adamFits(m [][]float64, ps *Params) error {
	ts := ps.Tensors()
	if len(m) != len(ts) {
		return fmt.Errorf("the optimizer state has %d moments for %d parameter tensors", len(m), len(ts))
	}
	for i, t := range ts {
		if len(m[i]) != t.Len() {
			return fmt.Errorf("the optimizer state has %d entries for parameter %q of shape %v", len(m[i]), ps.Names()[i], t.Shape())
		}
	}
	return nil
}

// commit copies d into c; d has been checked against c.
func (d *decoded) commit(c *Checkpoint) {
	c.Step = int(d.step)
	c.Meta = d.meta
	if c.Params != nil {
		for i, t := range c.Params.Tensors() {
			copy(t.Data(), d.vals[i])
		}
	}
	if a := c.Adam; a != nil {
		a.LR, a.Beta1, a.Beta2, a.Eps = d.lr, d.b1, d.b2, d.eps
		a.step = int(d.adamStep)
		a.m, a.v = d.m, d.v
	}
	if c.RNG != nil {
		*c.RNG = d.rng
	}
}

func shortList(s []string) []string {
	if len(s) > 8 {
		return append(slices.Clone(s[:8]), "…")
	}
	return s
}

// Encoding. Everything is little-endian; a string is a uint32 length and
// its bytes; a float64 is its IEEE-754 bits as a uint64.

type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) f64(v float64) {
	e.u64(math.Float64bits(v))
}
func (e *encoder) str(s string) {
	e.u32(uint32(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) floats(x []float64) {
	for _, v := range x {
		e.f64(v)
	}
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func encodeCheckpoint(c *Checkpoint) []byte {
	size := 256
	if c.Params != nil {
		size += 16*c.Params.Len() + 64*c.Params.Count()
	}
	if c.Adam != nil {
		for _, m := range c.Adam.m {
			size += 16*len(m) + 8
		}
	}
	e := &encoder{b: make([]byte, headerLen, headerLen+size)}
	copy(e.b, ckptMagic)
	binary.LittleEndian.PutUint32(e.b[8:], ckptVersion)

	e.u64(uint64(int64(c.Step)))

	keys := make([]string, 0, len(c.Meta))
	for k := range c.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.u32(uint32(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(c.Meta[k])
	}

	e.u8(boolByte(c.Params != nil))
	if c.Params != nil {
		names, ts := c.Params.Names(), c.Params.Tensors()
		e.u32(uint32(len(ts)))
		for i, t := range ts {
			e.str(names[i])
			e.u32(uint32(t.Rank()))
			for _, d := range t.Shape() {
				e.u64(uint64(d))
			}
			e.floats(t.Data())
		}
	}

	e.u8(boolByte(c.Adam != nil))
	if a := c.Adam; a != nil {
		e.f64(a.LR)
		e.f64(a.Beta1)
		e.f64(a.Beta2)
		e.f64(a.Eps)
		e.u64(uint64(int64(a.step)))
		e.u32(uint32(len(a.m)))
		for i := range a.m {
			e.u64(uint64(len(a.m[i])))
			e.floats(a.m[i])
			e.floats(a.v[i])
		}
	}

	e.u8(boolByte(c.RNG != nil))
	if c.RNG != nil {
		rb, err := c.RNG.MarshalBinary()
		if err != nil { // PCG's MarshalBinary cannot fail
			panic("nn: Save: " + err.Error())
		}
		e.str(string(rb))
	}

	binary.LittleEndian.PutUint64(e.b[12:], uint64(len(e.b)-headerLen))
	e.u32(crc32.Checksum(e.b, castagnoli))
	return e.b
}

// Decoding. The decoder never trusts a length: each is checked against
// the bytes that remain before anything is allocated for it.

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at body offset %d: %s", ErrCorrupt, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) rest() int { return len(d.b) - d.off }

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.rest() {
		d.fail("%s needs %d bytes, %d remain", what, n, d.rest())
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) u8(what string) uint8 {
	if s := d.take(1, what); s != nil {
		return s[0]
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if s := d.take(4, what); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if s := d.take(8, what); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (d *decoder) f64(what string) float64 { return math.Float64frombits(d.u64(what)) }

func (d *decoder) flag(what string) bool {
	switch v := d.u8(what); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("%s: flag byte %d, want 0 or 1", what, v)
		return false
	}
}

func (d *decoder) str(what string) string {
	n := d.u32(what + " length")
	return string(d.take(int(n), what))
}

// count reads a uint32 count of items each at least minSize bytes long and
// checks that they can fit in what remains.
func (d *decoder) count(what string, minSize int) int {
	n := int(d.u32(what))
	if d.err == nil && n > d.rest()/minSize {
		d.fail("%s %d: at least %d bytes each, %d remain", what, n, minSize, d.rest())
		return 0
	}
	return n
}

// floats reads n float64s, n already known to fit.
func (d *decoder) floats(n int, what string) []float64 {
	if d.err != nil {
		return nil
	}
	if n > d.rest()/8 {
		d.fail("%s: %d float64s need %d bytes, %d remain", what, n, 8*n, d.rest())
		return nil
	}
	s := d.take(8*n, what)
	x := make([]float64, n)
	for i := range x {
		x[i] = math.Float64frombits(binary.LittleEndian.Uint64(s[8*i:]))
	}
	return x
}

// decodeCheckpoint parses and checks a whole file.
func decodeCheckpoint(b []byte) (*decoded, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	if len(b) < len(ckptMagic) && string(b) == ckptMagic[:len(b)] {
		return nil, fmt.Errorf("%w: truncated: %d bytes, a checkpoint has at least %d", ErrCorrupt, len(b), headerLen+trailerLen)
	}
	if len(b) < len(ckptMagic) || string(b[:len(ckptMagic)]) != ckptMagic {
		return nil, fmt.Errorf("%w: not an eimkit checkpoint (bad magic)", ErrCorrupt)
	}
	if len(b) < headerLen+trailerLen {
		return nil, fmt.Errorf("%w: truncated: %d bytes, a checkpoint has at least %d", ErrCorrupt, len(b), headerLen+trailerLen)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != ckptVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads version %d", ErrCorrupt, v, ckptVersion)
	}
	bodyLen := binary.LittleEndian.Uint64(b[12:])
	if have := uint64(len(b) - headerLen - trailerLen); bodyLen != have {
		if bodyLen > have {
			return nil, fmt.Errorf("%w: truncated: the header announces a %d-byte body, the file has room for %d", ErrCorrupt, bodyLen, have)
		}
		return nil, fmt.Errorf("%w: %d unexpected bytes after the %d-byte body", ErrCorrupt, have-bodyLen, bodyLen)
	}
	n := len(b) - trailerLen
	if got, want := crc32.Checksum(b[:n], castagnoli), binary.LittleEndian.Uint32(b[n:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (CRC-32C %08x, file says %08x)", ErrCorrupt, got, want)
	}
	return decodeBody(b[headerLen:n])
}

// decodeBody parses the body of a checkpoint whose header and checksum
// have been verified. It is kept apart so that it can be fuzzed on its own.
func decodeBody(b []byte) (*decoded, error) {
	d := &decoder{b: b}
	out := &decoded{}
	out.step = int64(d.u64("step"))

	nMeta := d.count("meta count", 8)
	out.meta = make(map[string]string, nMeta)
	for range nMeta {
		k := d.str("meta key")
		v := d.str("meta value")
		if d.err != nil {
			break
		}
		if _, dup := out.meta[k]; dup {
			d.fail("duplicate meta key %q", k)
			break
		}
		out.meta[k] = v
	}

	if out.hasParams = d.flag("params flag"); out.hasParams {
		n := d.count("parameter count", 8)
		seen := make(map[string]bool, n)
		for range n {
			name := d.str("parameter name")
			if d.err != nil {
				break
			}
			if seen[name] {
				d.fail("duplicate parameter name %q", name)
				break
			}
			seen[name] = true
			rank := d.count("rank of "+name, 8)
			dims := make([]int, rank)
			size := 1
			for j := range dims {
				u := d.u64("dimension of " + name)
				if d.err != nil {
					break
				}
				if u > math.MaxInt32 {
					d.fail("parameter %q: dimension %d out of range", name, u)
					break
				}
				dims[j] = int(u)
				// Each entry takes 8 bytes: the running product may not
				// exceed what remains (checked by division, so it cannot
				// overflow).
				if size != 0 && dims[j] != 0 && size > d.rest()/8/dims[j] {
					d.fail("parameter %q: shape %v too large for the %d bytes that remain", name, dims[:j+1], d.rest())
					break
				}
				size *= dims[j]
			}
			vals := d.floats(size, "values of "+name)
			if d.err != nil {
				break
			}
			out.names = append(out.names, name)
			out.dims = append(out.dims, normShape(dims))
			out.vals = append(out.vals, vals)
		}
	}

	if out.hasAdam = d.flag("adam flag"); out.hasAdam {
		out.lr = d.f64("Adam LR")
		out.b1 = d.f64("Adam Beta1")
		out.b2 = d.f64("Adam Beta2")
		out.eps = d.f64("Adam Eps")
		out.adamStep = int64(d.u64("Adam step"))
		if d.err == nil && out.adamStep < 0 {
			d.fail("Adam step %d is negative", out.adamStep)
		}
		n := d.count("Adam moment count", 8)
		if d.err == nil && n > 0 && out.adamStep == 0 {
			d.fail("Adam has step 0 but %d moment pairs", n)
		}
		if d.err == nil && out.adamStep > 0 {
			out.m, out.v = make([][]float64, n), make([][]float64, n)
			for i := range n {
				k := d.u64("Adam moment length")
				if d.err == nil && k > uint64(d.rest()/16) {
					d.fail("Adam moment %d: %d entries need %d bytes, %d remain", i, k, 16*k, d.rest())
				}
				if d.err != nil {
					break
				}
				out.m[i] = d.floats(int(k), "Adam first moment")
				out.v[i] = d.floats(int(k), "Adam second moment")
			}
		}
	}

	if out.hasRNG = d.flag("rng flag"); out.hasRNG {
		s := d.str("RNG state")
		if d.err == nil {
			if err := out.rng.UnmarshalBinary([]byte(s)); err != nil {
				d.fail("RNG state: %v", err)
			}
		}
	}

	if d.err == nil && d.rest() != 0 {
		d.fail("%d unexpected bytes after the last section", d.rest())
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}

// normShape returns nil for a scalar's empty shape, as ad does.
func normShape(dims []int) []int {
	if len(dims) == 0 {
		return nil
	}
	return dims
}
