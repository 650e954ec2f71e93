package main

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/eimkit/eimkit/experiment"
)

// result is one run's entry of results.json.
type result struct {
	Model       string  `json:"model"`
	Target      string  `json:"target"`
	Steps       int     `json:"steps"`
	Seed        uint64  `json:"seed"`
	ProposalVar float64 `json:"proposal_var"`
	// TestBound is the mean over the held-out points of the test-time
	// estimate (Eval says which), and TestBoundStdErr its standard error
	// over the points.
	TestBound          jsonFloat `json:"test_bound"`
	TestBoundStdErr    jsonFloat `json:"test_bound_stderr"`
	TrueMeanLogDensity float64   `json:"true_mean_log_density"`
	// Seconds is the wall time of training (over all sessions),
	// evaluation and the picture; TrainSeconds that of training alone.
	Seconds      float64 `json:"seconds"`
	TrainSeconds float64 `json:"train_seconds"`
	// FinalTrainObj is the mean training objective over the last 1000
	// steps.
	FinalTrainObj jsonFloat `json:"final_train_objective"`
	Eval          string    `json:"eval"`
	// LARSZ and LARSZStdErr are LARS's test-time estimate of Z and its
	// standard error.
	LARSZ       float64 `json:"lars_z,omitempty"`
	LARSZStdErr float64 `json:"lars_z_stderr,omitempty"`
	// Settings are the flags the result was computed with.
	Settings map[string]string `json:"settings"`
}

// jsonFloat is a float64 that encodes NaN and ±Inf (a diverged run) as
// the strings "NaN", "+Inf" and "-Inf", which JSON numbers cannot hold.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return json.Marshal(strconv.FormatFloat(v, 'g', -1, 64))
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	var v float64
	if err := json.Unmarshal(b, &v); err == nil {
		*f = jsonFloat(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// write writes r as indented JSON to path, atomically.
func (r *result) write(path string) error { return experiment.WriteJSON(path, r) }

// writeResults writes results.json and results.md into dir.
func writeResults(dir string, results []*result) error {
	if err := experiment.WriteJSON(filepath.Join(dir, "results.json"), results); err != nil {
		return err
	}
	return experiment.WriteString(filepath.Join(dir, "results.md"), markdownTable(results))
}

// markdownTable formats the results as a markdown table with a note on
// how each column was computed.
func markdownTable(results []*result) string {
	var b strings.Builder
	b.WriteString("| model | target | steps | test | ± s.e. | E_p log p | gap | final train objective | seconds |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	evals := map[string]string{}
	var order []string
	for _, r := range results {
		target := r.Target
		if r.ProposalVar != results[0].ProposalVar {
			target += fmt.Sprintf(", proposal N(0, %g·I)", r.ProposalVar) // -mismatch-var
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.4f | %.4f | %.4f | %.4f | %.4f | %.1f |\n",
			strings.ToUpper(r.Model), target, r.Steps, float64(r.TestBound), float64(r.TestBoundStdErr),
			r.TrueMeanLogDensity, r.TrueMeanLogDensity-float64(r.TestBound), float64(r.FinalTrainObj), r.Seconds)
		m := strings.ToUpper(r.Model)
		if _, ok := evals[m]; !ok {
			order = append(order, m)
			evals[m] = r.Eval
		}
	}
	b.WriteString("\n")
	if len(results) > 0 {
		r := results[0]
		fmt.Fprintf(&b, "Seed %d, proposal N(0, %g·I), %s held-out points per target. ", r.Seed, r.ProposalVar, r.Settings["eval-points"])
	}
	b.WriteString("test: mean over the held-out points of ")
	for i, m := range order {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", m, evals[m])
	}
	b.WriteString(". ± s.e.: its standard error over the points. gap: E_p log p − test. " +
		"final train objective: mean over the last 1000 training steps.\n")
	return b.String()
}
