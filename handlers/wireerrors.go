package handlers

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"

	"github.com/vendre-extend/gateway/api"
)

// JSONErrors returns ln with the errors net/http answers on its own made
// the contract's JSON errors. net/http refuses some requests before any
// handler runs (a bad URL escape, a bad request line or header, headers
// over MaxHeaderBytes, an unknown Transfer-Encoding or HTTP version, an
// Expect other than 100-continue) and answers them in plain text, written
// straight to the connection. The listener's connections recognise those
// answers, and only those, as they are written, and send the JSON error in
// their place with the same status. See docs/security.md.
func JSONErrors(ln net.Listener) net.Listener { return jsonErrorListener{ln} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

// jsonErrorConn rewrites net/http's own error answers (see JSONErrors).
type jsonErrorConn struct{ net.Conn }

// cannedHeaders follow the status line of every error net/http writes
// itself (net/http server.go, conn.serve). An answer from a handler never
// has them right after its status line: net/http writes a handler's
// header sorted (Connection before Content-Type) and adds a Date.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// expectationFailed starts the only other answer net/http makes itself, to
// an Expect header other than 100-continue; no handler of ours answers 417.
const expectationFailed = "HTTP/1.1 417 "

func (c *jsonErrorConn) Write(p []byte) (int, error) {
	status, detail, ok := cannedError(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(jsonErrorAnswer(status, detail)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite lets net/http half-close the connection after a 431, as it
// does on a bare *net.TCPConn.
func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// cannedError reports whether p is an error answer net/http wrote itself,
// and its status and the detail net/http gave ("missing required Host
// header"), if any.
func cannedError(p []byte) (status int, detail string, ok bool) {
	const proto = "HTTP/1.1 "
	if len(p) < len(proto)+4 || !bytes.HasPrefix(p, []byte(proto)) || (p[len(proto)] != '4' && p[len(proto)] != '5') {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(p[len(proto) : len(proto)+3]))
	if err != nil {
		return 0, "", false
	}
	if bytes.HasPrefix(p, []byte(expectationFailed)) {
		return status, "", true
	}
	line, rest, found := bytes.Cut(p, []byte("\r\n"))
	if !found || !bytes.HasPrefix(rest, []byte(cannedHeaders[2:])) {
		return 0, "", false
	}
	// "HTTP/1.1 400 Bad Request: missing required Host header"
	if _, d, found := bytes.Cut(line, []byte(": ")); found && plainWords(d) {
		detail = string(d)
	}
	return status, detail, true
}

// plainWords: net/http's details are short phrases of plain words
// ("missing required Host header"); anything else is not passed on.
func plainWords(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if c != ' ' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// jsonErrorAnswer is the whole HTTP answer for a request net/http refused.
func jsonErrorAnswer(status int, detail string) []byte {
	msg := "the request is malformed (its request line, URL or headers)"
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		msg = "the request headers are too large"
	case http.StatusNotImplemented:
		msg = "unsupported Transfer-Encoding; send chunked or a Content-Length"
	case http.StatusHTTPVersionNotSupported:
		msg = "unsupported HTTP version; use HTTP/1.1"
	case http.StatusExpectationFailed:
		msg = "unsupported Expect header; only 100-continue is understood"
	default:
		if detail != "" {
			msg = "the request is malformed: " + detail
		}
	}
	body, _ := json.Marshal(api.Error{Error: api.ErrorBody{Code: codeInvalid, Message: msg}})
	b := make([]byte, 0, 160+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nContent-Type: "+contentJSON+"\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}
