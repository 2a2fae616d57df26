package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestLogCapsLongValues: whatever a caller sent, a log line stays small;
// a value built from input is cut, and says so.
func TestLogCapsLongValues(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&Config{LogLevel: "info"}, &buf)
	huge := strings.Repeat("bad row; ", 40_000)
	log.Warn("orders: needs manual handling", "reason", huge, "err", errors.New(huge), "order", "V-1")
	line := buf.String()
	if len(line) > 8<<10 {
		t.Errorf("log line is %d bytes, want at most 8 KiB", len(line))
	}
	if !strings.Contains(line, `"order":"V-1"`) || !strings.Contains(line, "bad row; ") {
		t.Errorf("log line lost its attributes: %.300s", line)
	}
}
