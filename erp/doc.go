// Package erp is the gateway's HTTP client for the Extend Commerce ERP.
//
// Extend Commerce documents its method names and rules of conduct but not
// its paths, parameters or authentication. Everything this package assumes
// about them (docs/extend.md) lives in one file, extend.go:
// "the adapter". Re-pointing the gateway at the real API means changing that
// file and the fixtures in testdata/, nothing else. client.go holds the
// transport: timeouts, retries and error classification, which do not
// depend on the wire model beyond the three error types.
//
// Every method takes a context whose deadline is the caller's whole ERP
// budget (EXTEND_TIMEOUT for a Vendre request). The client never retries or
// waits past it: one attempt is bounded by Config.CallTimeout, transient
// failures (5xx, timeouts, broken connections) are retried with the
// gateway's one retry policy (package retry: exponential backoff with
// jitter, 50ms doubling up to 1s), and throttling (429) is waited out only
// when the wait fits in the budget.
//
// Failures are *Error values wrapping one of the sentinels ErrNotFound,
// ErrValidation, ErrThrottled, ErrUnavailable, ErrTimeout, ErrBadResponse or
// ErrUnauthorized; test them with errors.Is. No error or log line ever holds
// the client secret or an access token.
package erp
