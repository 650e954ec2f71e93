package experiment

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile creates path by writing a temporary file beside it with write,
// syncing it to disk and renaming it over path, then syncing the
// directory: path holds the old content or the new one, never a part. The
// temporary file is named ".<base>.tmp<random>" so that RemoveTemp finds
// it if the process dies before the rename; on an error it is removed.
func WriteFile(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tmpInfix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = write(f); err != nil {
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
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Not every system can sync a
// directory; the file is in place either way, so this is best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// WriteJSON writes v as indented JSON with a final newline to path,
// atomically (see WriteFile).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// WriteString writes s to path atomically (see WriteFile).
func WriteString(path, s string) error {
	return WriteFile(path, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

// tmpInfix marks the temporary files of WriteFile and of nn.Save, whose
// names are ".<base>.tmp<random>".
const tmpInfix = ".tmp"

// isTemp reports whether name is a temporary file of WriteFile or nn.Save.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tmpInfix)
}

// RemoveTemp removes the temporary files that WriteFile and nn.Save leave
// behind when a process is killed between creating and renaming them
// (".checkpoint.bin.tmp123", ".results.json.tmp456"), in dir and in its
// subdirectories down to depth levels (0: dir only). It returns the paths
// it removed. Call it only while holding the directory's lock: another
// writer's temporary file is not stale.
func RemoveTemp(dir string, depth int) ([]string, error) {
	var removed []string
	root := filepath.Clean(dir)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && strings.Count(path[len(root):], string(filepath.Separator)) > depth {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && isTemp(d.Name()) {
			if err := os.Remove(path); err != nil {
				return err
			}
			removed = append(removed, path)
		}
		return nil
	})
	return removed, err
}
