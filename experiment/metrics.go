package experiment

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// MetricsName is the name of a run's metrics log in its directory.
const MetricsName = "metrics.jsonl"

// Point is one line of a run's metrics log: the training step just taken
// (1 for the first), the objective it returned, the wall time of training
// so far (over every session of the run) and the step's optional named
// values. Lines are JSON, one object per line:
//
//	{"step":1,"objective":-3.21,"seconds":0.004}
//	{"step":2,"objective":-3.18,"seconds":0.007,"values":{"kl":0.51}}
//
// Numbers are written in Go's shortest round-trip form, so a curve read
// back is bitwise the objective the step returned.
type Point struct {
	Step      int                `json:"step"`
	Objective float64            `json:"objective"`
	Seconds   float64            `json:"seconds"`
	Values    map[string]float64 `json:"values,omitempty"`
}

// ReadMetrics reads the metrics log at path. A last line without its
// newline (a write cut short by a kill) is ignored; any other malformed
// line is an error. A missing file gives no points and no error.
func ReadMetrics(path string) ([]Point, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i < len(b)-1 {
		b = b[:i+1] // drop a partial last line
	}
	var pts []Point
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		var p Point
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		pts = append(pts, p)
	}
	return pts, sc.Err()
}

// Objectives returns the objective of every point, in order.
func Objectives(pts []Point) []float64 {
	v := make([]float64, len(pts))
	for i, p := range pts {
		v[i] = p.Objective
	}
	return v
}

// appendPoint appends p as one JSON line to b.
func appendPoint(b []byte, p Point) ([]byte, error) {
	j, err := json.Marshal(p)
	if err != nil {
		return b, err
	}
	return append(append(b, j...), '\n'), nil
}
