package handlers

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vendre-extend/gateway/clip"
)

// ErrorLog keeps the latest error-level log records (5xx answers, schema
// failures, pusher errors) for the admin status page. Tee a logger into it
// with Handler. It is safe for concurrent use.
type ErrorLog struct {
	mu   sync.Mutex
	buf  []LoggedError
	next int // where the next record goes
	n    int // records held
}

// LoggedError is one error-level log record, as the status page shows it.
type LoggedError struct {
	Time    time.Time
	Message string
	Attrs   string // key=value pairs, as logged (no secrets are logged)
}

// maxAttrsLen caps one record's attributes, so a huge error message cannot
// bloat the status page.
const maxAttrsLen = 600

// NewErrorLog returns an ErrorLog holding the last n records (n < 1: 50).
func NewErrorLog(n int) *ErrorLog {
	if n < 1 {
		n = 50
	}
	return &ErrorLog{buf: make([]LoggedError, n)}
}

// Recent returns the records held, newest first.
func (l *ErrorLog) Recent() []LoggedError {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LoggedError, 0, l.n)
	for i := 1; i <= l.n; i++ {
		out = append(out, l.buf[(l.next-i+len(l.buf))%len(l.buf)])
	}
	return out
}

func (l *ErrorLog) add(e LoggedError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf[l.next] = e
	l.next = (l.next + 1) % len(l.buf)
	l.n = min(l.n+1, len(l.buf))
}

// Handler returns a slog.Handler that passes every record on to next and
// keeps those at slog.LevelError or above.
func (l *ErrorLog) Handler(next slog.Handler) slog.Handler {
	return &errorTee{log: l, next: next}
}

type errorTee struct {
	log    *ErrorLog
	next   slog.Handler
	prefix string // groups, "a.b."
	attrs  string // from WithAttrs, formatted
}

func (h *errorTee) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelError || h.next.Enabled(ctx, level)
}

func (h *errorTee) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		var b strings.Builder
		b.WriteString(h.attrs)
		r.Attrs(func(a slog.Attr) bool {
			writeAttr(&b, h.prefix, a)
			return b.Len() < maxAttrsLen
		})
		s := clip.String(strings.TrimSpace(b.String()), maxAttrsLen)
		h.log.add(LoggedError{Time: r.Time, Message: clip.String(r.Message, maxAttrsLen), Attrs: s})
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *errorTee) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		writeAttr(&b, h.prefix, a)
	}
	return &errorTee{log: h.log, next: h.next.WithAttrs(as), prefix: h.prefix, attrs: b.String()}
}

func (h *errorTee) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &errorTee{log: h.log, next: h.next.WithGroup(name), prefix: h.prefix + name + ".", attrs: h.attrs}
}

func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			writeAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(a.Value.String())
}
