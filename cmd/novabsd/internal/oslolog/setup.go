package oslolog

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Settings chooses where and how the service logs; they map oslo.log's options.
type Settings struct {
	Debug   bool   // [DEFAULT] debug
	JSON    bool   // [DEFAULT] use_json
	LogFile string // [DEFAULT] log_file; relative to LogDir when that is set
	LogDir  string // [DEFAULT] log_dir
	Program string // basename used for LogDir/<program>.log when only LogDir is set
}

// Path is the file the settings log to, or "" for stderr, following oslo.log's rules.
func (s Settings) Path() string {
	switch {
	case s.LogFile != "" && s.LogDir != "" && !filepath.IsAbs(s.LogFile):
		return filepath.Join(s.LogDir, s.LogFile)
	case s.LogFile != "":
		return s.LogFile
	case s.LogDir != "":
		return filepath.Join(s.LogDir, s.Program+".log")
	}
	return ""
}

// Output is a log destination that can be reopened (after logrotate moved the file) and closed.
type Output struct {
	mu   sync.Mutex
	path string
	f    *os.File
	w    io.Writer
}

// Write writes p to the current file (or stderr).
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Write(p)
}

// Reopen closes and reopens the log file; for stderr it does nothing.
func (o *Output) Reopen() error {
	if o.path == "" {
		return nil
	}
	f, err := openLog(o.path)
	if err != nil {
		return err
	}
	o.mu.Lock()
	old := o.f
	o.f, o.w = f, f
	o.mu.Unlock()
	return old.Close()
}

// Close closes the log file, if any.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f, o.w = nil, os.Stderr
	return err
}

func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}

// New builds the logger the settings ask for, with its output so the caller can reopen it on SIGHUP.
func New(s Settings, stderr io.Writer) (*slog.Logger, *Output, error) {
	out := &Output{path: s.Path(), w: stderr}
	if out.path != "" {
		f, err := openLog(out.path)
		if err != nil {
			return nil, nil, err
		}
		out.f, out.w = f, f
	}
	level := Level(s.Debug)
	var h slog.Handler
	if s.JSON {
		h = slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level, ReplaceAttr: ReplaceAttr})
	} else {
		h = NewTextHandler(out, level)
	}
	return slog.New(h), out, nil
}
