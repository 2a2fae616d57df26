package telemetry_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/telemetry"
)

// syncBuffer is a bytes.Buffer safe for the flusher goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBufferedLog(t *testing.T) {
	var sink syncBuffer
	out := telemetry.NewBufferedLog(&sink, time.Hour) // no periodic flush in this test
	log := slog.New(telemetry.FlushOnWarn(slog.NewJSONHandler(out, nil), out)).With("app", "gw")
	log.Info("request", "n", 1)
	if got := sink.String(); got != "" {
		t.Fatalf("info line written at once: %q; want it buffered", got)
	}
	log.Warn("redis down")
	if got := sink.String(); !strings.Contains(got, `"n":1`) || !strings.Contains(got, "redis down") {
		t.Fatalf("after a warning = %q; want both lines flushed", got)
	}
	log.Info("request", "n", 2)
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sink.String(); !strings.Contains(got, `"n":2`) {
		t.Errorf("after Close = %q; want the last info line", got)
	}
}

func TestBufferedLogFlushesPeriodically(t *testing.T) {
	var sink syncBuffer
	out := telemetry.NewBufferedLog(&sink, 10*time.Millisecond)
	defer out.Close()
	slog.New(slog.NewJSONHandler(out, nil)).Info("request")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(sink.String(), "request") {
		if time.Now().After(deadline) {
			t.Fatal("info line never flushed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLogCapsLongValues: whatever a caller sent, a log line stays small;
// a value built from input is cut, and says so.
func TestLogCapsLongValues(t *testing.T) {
	var sink syncBuffer
	out := telemetry.NewBufferedLog(&sink, time.Hour)
	log := telemetry.NewLogger(out, "info")
	huge := strings.Repeat("bad row; ", 40_000)
	log.Warn("orders: needs manual handling", "reason", huge, "err", errors.New(huge), "order", "V-1")
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	line := sink.String()
	if len(line) > 8<<10 {
		t.Errorf("log line is %d bytes, want at most 8 KiB", len(line))
	}
	if !strings.Contains(line, `"order":"V-1"`) || !strings.Contains(line, "bad row; ") {
		t.Errorf("log line lost its attributes: %.300s", line)
	}
}

// TestLoggerLevel: lines below the level are dropped.
func TestLoggerLevel(t *testing.T) {
	var sink syncBuffer
	out := telemetry.NewBufferedLog(&sink, time.Hour)
	log := telemetry.NewLogger(out, "warn")
	log.Info("request")
	log.Warn("redis down")
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sink.String(); strings.Contains(got, "request") || !strings.Contains(got, "redis down") {
		t.Errorf("LOG_LEVEL=warn wrote %q; want the warning only", got)
	}
}
