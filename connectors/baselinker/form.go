package baselinker

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// form reads an action's parameters from the POSTed fields, collecting
// every problem so that one answer names them all.
type form struct {
	v    url.Values
	errs []string
}

// maxField is the longest value a parameter may have, in bytes; the
// products of OrderAdd (a JSON list) may be as long as the body.
const maxField = 4 << 10

func (f *form) fail(format string, a ...any) {
	if len(f.errs) < 10 {
		f.errs = append(f.errs, fmt.Sprintf(format, a...))
	}
}

// has reports whether name was sent with a non-blank value.
func (f *form) has(name string) bool { return strings.TrimSpace(f.v.Get(name)) != "" }

// str returns name's value, trimmed; "" when absent.
func (f *form) str(name string) string {
	s := strings.TrimSpace(f.v.Get(name))
	switch {
	case !utf8.ValidString(s):
		f.fail("%s is not UTF-8 text", name)
		return ""
	case len(s) > maxField:
		f.fail("%s is longer than %d bytes", name, maxField)
		return ""
	}
	return s
}

// raw returns name's value untrimmed and unbounded (a JSON parameter).
func (f *form) raw(name string) string { return f.v.Get(name) }

// first returns the value of the first of names that was sent (a
// parameter with two spellings), and which one it was.
func (f *form) first(names ...string) (string, string) {
	for _, n := range names {
		if f.has(n) {
			return f.str(n), n
		}
	}
	return "", names[0]
}

// integer returns name as a whole number in [lo, hi], def when absent.
func (f *form) integer(name string, def, lo, hi int) int {
	s := f.str(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		f.fail("%s must be a whole number from %d to %d", name, lo, hi)
		return def
	}
	return n
}

// number returns name as a decimal number (a point or a comma), and
// whether it was sent.
func (f *form) number(name string) (float64, bool) {
	s := strings.ReplaceAll(f.str(name), ",", ".")
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n != n || n > 1e12 || n < -1e12 {
		f.fail("%s must be a number", name)
		return 0, false
	}
	return n, true
}

// flag returns name as 0/1 (also true/false), def when absent.
func (f *form) flag(name string, def bool) bool {
	switch strings.ToLower(f.str(name)) {
	case "":
		return def
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	f.fail("%s must be 0 or 1", name)
	return def
}

// unix returns name as a unix time in seconds, zero when absent.
func (f *form) unix(name string) time.Time {
	n := f.integer(name, 0, 0, 1<<40)
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(int64(n), 0).UTC()
}

// list returns a comma-separated list, blanks and repeats dropped, at most
// max entries.
func (f *form) list(name string, max int) []string {
	s := f.str(name)
	if s == "" {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) > max {
		f.fail("%s names %d entries; at most %d are allowed", name, len(out), max)
		return out[:max]
	}
	return out
}

// err is the collected problems as one invalid_request, nil when none.
func (f *form) err() *Error {
	if len(f.errs) == 0 {
		return nil
	}
	return newError(http.StatusUnprocessableEntity, CodeInvalidRequest, strings.Join(f.errs, "; "))
}
