package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The idx format (LeCun et al., the MNIST distribution) is a 4-byte magic
// number, one big-endian uint32 per dimension, then the entries in row-major
// order:
//
//	byte 0, 1   zero
//	byte 2      entry type, 0x08 for unsigned bytes (the only type read here)
//	byte 3      number of dimensions r
//	4·r bytes   the sizes n₁ … n_r, big-endian uint32
//	n₁⋯n_r      the entries, one byte each
//
// Image files have r = 3 (count, rows, columns), label files r = 1 (count).
// Files may be gzip-compressed; the gzip magic 1f 8b is recognized whatever
// the file is called.

const (
	idxTypeUbyte = 0x08
	// maxIDXBytes bounds the payload a header may declare (the MNIST
	// training images are 47 MB): a corrupt header must not make the
	// reader allocate gigabytes.
	maxIDXBytes = 1 << 30
)

// idxFile is a decoded idx file: its dimensions and its entries.
type idxFile struct {
	dims []int
	data []byte
}

// readIDX decodes the idx file at path, gzip-compressed or not, checking
// the magic number, the number of dimensions (wantRank) and that the file
// holds exactly the entries its header declares. Errors name the file.
func readIDX(path string, wantRank int) (*idxFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	idx, err := decodeIDX(f, wantRank)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return idx, nil
}

// decodeIDX is readIDX on an open stream; its errors do not name the file.
func decodeIDX(r io.Reader, wantRank int) (*idxFile, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var src io.Reader = br
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		// Only the single gzip member an idx.gz file holds.
		zr.Multistream(false)
		src = zr
	}

	var magic [4]byte
	if _, err := io.ReadFull(src, magic[:]); err != nil {
		return nil, fmt.Errorf("not an idx file: %s reading the 4-byte magic number", describeReadErr(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("not an idx file: magic number % x does not start with 00 00", magic[:])
	}
	if magic[2] != idxTypeUbyte {
		return nil, fmt.Errorf("idx entry type 0x%02x, want 0x%02x (unsigned bytes)", magic[2], idxTypeUbyte)
	}
	if int(magic[3]) != wantRank {
		return nil, fmt.Errorf("idx file has %d dimensions, want %d (magic number % x)", magic[3], wantRank, magic[:])
	}

	header := make([]byte, 4*wantRank)
	if _, err := io.ReadFull(src, header); err != nil {
		return nil, fmt.Errorf("truncated: %s reading the %d dimension sizes", describeReadErr(err), wantRank)
	}
	dims := make([]int, wantRank)
	total := 1
	for i := range dims {
		n := int(binary.BigEndian.Uint32(header[4*i:]))
		dims[i] = n
		if n == 0 {
			return nil, fmt.Errorf("dimension %d has size 0 (sizes %v)", i, dims[:i+1])
		}
		if total > maxIDXBytes/n {
			return nil, fmt.Errorf("header declares sizes %v, more than %d bytes", dimsOf(header), maxIDXBytes)
		}
		total *= n
	}

	// Read at most one byte more than declared: a short file is found
	// without allocating what the header promises, a long one by the
	// extra byte, and reading a gzip stream to its end checks its CRC.
	var buf bytes.Buffer
	// One allocation for files up to 64 MB (all of MNIST); beyond that
	// the buffer grows as bytes arrive, so a lying header costs nothing.
	buf.Grow(min(total, 64<<20) + 1)
	got, err := io.Copy(&buf, io.LimitReader(src, int64(total)+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated: compressed stream ends after %d of the %d entries declared by sizes %v", got, total, dims)
		}
		return nil, fmt.Errorf("after %d of %d entries (sizes %v): %w", got, total, dims, err)
	}
	switch {
	case got < int64(total):
		return nil, fmt.Errorf("truncated: header declares sizes %v (%d entries), file holds %d", dims, total, got)
	case got > int64(total):
		return nil, fmt.Errorf("trailing bytes after the %d entries declared by sizes %v", total, dims)
	}
	return &idxFile{dims: dims, data: buf.Bytes()}, nil
}

// dimsOf decodes the dimension sizes of a header for an error message.
func dimsOf(header []byte) []uint32 {
	d := make([]uint32, len(header)/4)
	for i := range d {
		d[i] = binary.BigEndian.Uint32(header[4*i:])
	}
	return d
}

// describeReadErr turns the end-of-file errors of io.ReadFull into words.
func describeReadErr(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "end of file"
	}
	return err.Error()
}
