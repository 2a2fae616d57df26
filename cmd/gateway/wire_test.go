package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/api"
)

// TestMalformedRequestsGetJSON sends, over a real connection to the
// running gateway, requests that net/http refuses before any handler runs,
// and checks that each still gets the contract's JSON error.
func TestMalformedRequestsGetJSON(t *testing.T) {
	addr := startGateway(t, nil)
	tests := []struct {
		name    string
		raw     string
		status  int
		message string // a part of the message
	}{
		{"bad escape in the path", "GET /v1/orders/%zz?customer_no=10001 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: demo\r\n\r\n", 400, "malformed"},
		{"bad request line", "GET\r\nHost: gw\r\n\r\n", 400, "malformed"},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "Host"},
		{"bad header name", "GET /healthz HTTP/1.1\r\nHost: gw\r\nBad Header: x\r\n\r\n", 400, "header"},
		{"huge headers", "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("b", 80<<10) + "\r\n\r\n", 431, "headers"},
		{"unknown transfer encoding", "POST /webhooks/extend HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: rot13\r\n\r\n", 501, "Transfer-Encoding"},
		{"unknown expectation", "GET /healthz HTTP/1.1\r\nHost: gw\r\nExpect: miracles\r\n\r\n", 417, "Expect"},
		{"unsupported version", "GET /healthz HTTP/2.5\r\nHost: gw\r\n\r\n", 505, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := rawRequest(t, addr, tt.raw)
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", res.StatusCode, tt.status, body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var e api.Error
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body is not the contract's JSON: %v\n%s", err, body)
			}
			if e.Error.Code != "invalid_request" || !strings.Contains(e.Error.Message, tt.message) {
				t.Errorf("error = %+v, want invalid_request naming %q", e.Error, tt.message)
			}
		})
	}

	// A well-formed request on the same listener is untouched.
	res, body := rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
	if res.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("GET /healthz = %d %s, want 200 ok", res.StatusCode, body)
	}
}

// rawRequest writes raw on a new connection to addr and reads one
// response.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(c, raw) }() // the server may answer before it has read it all
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body
}
