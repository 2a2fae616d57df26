// Package clip bounds text built from input. A caller controls the text
// of an error about its own request (a Vendre order with 7,500 bad rows
// makes 7,500 problems); clip keeps what the gateway makes of it (a log
// line, a stored reason, an error message, an admin answer) to a size
// fixed here, whatever the input. Every cap of that kind in the gateway
// goes through this package.
package clip

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sizes of the usual kinds of text.
const (
	// Message bounds one message or reason that is stored or shown (a dead
	// letter's reason, a pusher's last error): 1 KiB.
	Message = 1 << 10
	// LogValue bounds one value in a log line: 2 KiB.
	LogValue = 2 << 10
	// Items is how many problems a list names before "and N more".
	Items = 10
)

// ellipsis marks text that was cut.
const ellipsis = "…"

// String returns s when it is at most n bytes, else its first n bytes or
// fewer (cut on a rune boundary) followed by "…".
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

// Join joins the first n items with sep; when there are more, it adds
// "and N more". Each item is cut to Message bytes.
func Join(items []string, sep string, n int) string {
	var b strings.Builder
	for i, it := range items {
		if i == n {
			b.WriteString(sep)
			b.WriteString("and ")
			b.WriteString(strconv.Itoa(len(items) - n))
			b.WriteString(" more")
			break
		}
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(String(it, Message))
	}
	return b.String()
}
