package telemetry

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vendre-extend/gateway/clip"
)

// NewLogger returns the gateway's JSON logger, writing to out at level
// (debug, info, warn or error; LOG_LEVEL) and flushing out after every
// warning (FlushOnWarn). Every text and error value of a line is cut to
// clip.LogValue: what a caller sent (a bad order's problems, an ERP's
// error text) never makes a log line longer than a few KiB.
func NewLogger(out *BufferedLog, level string) *slog.Logger {
	return slog.New(FlushOnWarn(newJSONHandler(out, level), out))
}

func newJSONHandler(w io.Writer, level string) slog.Handler {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: clipAttr})
}

// clipAttr cuts a text or error value to clip.LogValue.
func clipAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); len(s) > clip.LogValue {
			a.Value = slog.StringValue(clip.String(s, clip.LogValue))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			if s := err.Error(); len(s) > clip.LogValue {
				a.Value = slog.StringValue(clip.String(s, clip.LogValue))
			}
		}
	}
	return a
}

// BufferedLog batches log lines into few writes. Unbuffered, the request
// log costs one write(2) per request, about 15 % of a cache hit's
// throughput (bench/run.sh with LOG_LEVEL=info against warn). Lines reach
// the underlying writer at least every period, at once for warnings and
// errors (FlushOnWarn), and on Close; a SIGKILL loses at most one period
// of info lines. It is safe for concurrent use.
type BufferedLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewBufferedLog returns a BufferedLog over w that flushes every period,
// until Close.
func NewBufferedLog(w io.Writer, period time.Duration) *BufferedLog {
	b := &BufferedLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = b.Flush()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

// Write buffers p (one whole log line, as slog writes them).
func (b *BufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Flush writes what is buffered.
func (b *BufferedLog) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close stops the periodic flush and flushes what is left.
func (b *BufferedLog) Close() error {
	close(b.stop)
	<-b.done
	return b.Flush()
}

// FlushOnWarn returns a slog.Handler that passes records to h, whose
// output is out, and flushes out after every record of level warn or
// above, so that problems are never held back.
func FlushOnWarn(h slog.Handler, out *BufferedLog) slog.Handler {
	return flushOnWarn{h, out}
}

type flushOnWarn struct {
	slog.Handler
	out *BufferedLog
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		_ = h.out.Flush()
	}
	return err
}

func (h flushOnWarn) WithAttrs(as []slog.Attr) slog.Handler {
	return flushOnWarn{h.Handler.WithAttrs(as), h.out}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{h.Handler.WithGroup(name), h.out}
}
