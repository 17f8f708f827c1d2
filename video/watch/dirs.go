package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/anonymize/anonymize/video/batch"
	"github.com/anonymize/anonymize/video/imageio"
)

// ignoredName reports whether a file or folder name is one a watch never
// reads: hidden names (the temporary files fsutil.WriteFileAtomic writes among
// them) and the names tools give files still arriving.
func ignoredName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return true
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".swp":
		return true
	}
	return false
}

// watchRoot is one watched input folder and the folder its tree goes to.
type watchRoot struct {
	in, out string // absolute
}

// addRoot adds the input folder in to the folders watched, with the folder
// its tree goes to: out (absOut, absolute), out/<its base name> when
// several folders are watched, or <in>_anonymized without out. An input
// that is not a folder, is its own output or overlaps another input is
// refused (batch.ErrUsage).
func (w *watcher) addRoot(in, out, absOut string, several bool) error {
	absIn, err := filepath.Abs(in)
	if err != nil {
		return err
	}
	st, err := os.Stat(absIn)
	if err != nil {
		return fmt.Errorf("%w: watch %s: %v", batch.ErrUsage, in, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: watch %s: not a folder (--watch takes folders)", batch.ErrUsage, in)
	}
	root := absIn + "_anonymized"
	if out != "" {
		root = absOut
		if several {
			root = filepath.Join(absOut, filepath.Base(absIn))
		}
	}
	if root == absIn || absOut == absIn {
		return fmt.Errorf("%w: output folder %s is the input folder; choose another --out", batch.ErrUsage, root)
	}
	for _, r := range w.roots {
		if within(absIn, r.in) || within(r.in, absIn) {
			return fmt.Errorf("%w: watch: folders %s and %s overlap; name only the outer one", batch.ErrUsage, r.in, absIn)
		}
	}
	w.roots = append(w.roots, &watchRoot{in: absIn, out: root})
	w.skip = append(w.skip, root)
	return nil
}

// within reports whether path is dir or lies under it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

func (w *watcher) excluded(path string) bool {
	for _, s := range w.skip {
		if within(path, s) {
			return true
		}
	}
	return false
}

func (w *watcher) rootOf(path string) *watchRoot {
	for _, r := range w.roots {
		if within(path, r.in) {
			return r
		}
	}
	return nil
}

func (w *watcher) outputPath(r *watchRoot, in string) string {
	rel, err := filepath.Rel(r.in, in)
	if err != nil {
		rel = filepath.Base(in)
	}
	p := filepath.Join(r.out, rel)
	if imageio.IsImage(in) {
		p = batch.WithFormat(p, w.o.Format)
	}
	return p
}

// removeStaleTemps removes the temporary files a killed run left in the
// output folders of the files found at start (batch.RemoveStaleTemps).
func (w *watcher) removeStaleTemps() {
	var tasks []batch.Task
	for p, f := range w.files {
		tasks = append(tasks, batch.Task{Input: p, Output: w.outputPath(f.root, p)})
	}
	batch.RemoveStaleTemps(batch.OutputDirs(tasks), batch.StaleTempAge, w.log)
}

// walk looks at every file under dir (a folder in r), watching each folder
// before listing it, so that nothing created meanwhile is missed.
func (w *watcher) walk(r *watchRoot, dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				w.log.Error("cannot read folder", "dir", p, "err", err)
			}
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != r.in && (ignoredName(d.Name()) || w.excluded(p)) {
				return fs.SkipDir
			}
			if err := w.fsw.Add(p); err != nil {
				w.log.Error("cannot watch folder; files arriving in it are missed", "dir", p, "err", err)
			} else {
				w.dirs[p] = true
			}
			return nil
		}
		if ignoredName(d.Name()) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		w.found(r, p)
		return nil
	})
}

// unwatch stops watching dir, a folder removed or renamed away, and the
// folders below it. A folder renamed keeps its inotify watches, under its
// old name: adding its new name would find them and not rename them, and
// the kernel drops the moved folder's own watch, so its new name (which
// the Create event for it walks and watches afresh) would go unwatched.
func (w *watcher) unwatch(dir string) {
	for d := range w.dirs {
		if within(d, dir) {
			delete(w.dirs, d)
			_ = w.fsw.Remove(d) // gone already when the folder was deleted
		}
	}
}
