package main

import (
	"encoding/json"
	"os"
	"testing"
)

// readJSON decodes the JSON file at path into a T, failing the test on any
// error.
func readJSON[T any](t *testing.T, path string) T {
	t.Helper()
	var v T
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}
