package erp

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Every error a Client method returns is an *Error that
// wraps exactly one of them (or context.Canceled when the caller gave up).
var (
	// ErrNotFound: Extend answered 404 (a Validation error): the record does
	// not exist.
	ErrNotFound = errors.New("erp: not found")
	// ErrValidation: Extend rejected the request or its data (400, 409, 422
	// and other 4xx); retrying the same request cannot help.
	ErrValidation = errors.New("erp: validation failed")
	// ErrThrottled: Extend answered 429 and the wait it asked for did not
	// fit in the caller's deadline, or the retries were used up.
	// Error.RetryAfter says how long Extend asked to wait.
	ErrThrottled = errors.New("erp: throttled")
	// ErrUnavailable: Extend answered 5xx, or the connection failed, on
	// every attempt.
	ErrUnavailable = errors.New("erp: unavailable")
	// ErrTimeout: the caller's deadline passed, or the last attempt ran
	// into Config.CallTimeout.
	ErrTimeout = errors.New("erp: timeout")
	// ErrBadResponse: Extend answered something unusable: JSON that does
	// not decode, the wrong content type, an oversized body or an
	// unexpected status such as a redirect.
	ErrBadResponse = errors.New("erp: bad response")
	// ErrUnauthorized: the token endpoint refused the credentials, or a call
	// was refused (401) again right after a token renewal.
	ErrUnauthorized = errors.New("erp: unauthorized")
)

// Error is a failed Extend call. It wraps one of the sentinels (Err), so
// both errors.Is(err, ErrNotFound) and errors.As(err, &e) work. Its text
// never contains the client secret or a token.
type Error struct {
	Op         string        // method and path, e.g. "GET /CustomerOrders/123"
	Status     int           // HTTP status of the last attempt; 0 when none arrived
	Type       string        // Extend's ErrorType: Validation, Throttling or Server; "" when absent
	Message    string        // Extend's Message, shortened; "" when absent
	Fields     []FieldError  // Extend's per-field Errors, if any
	RetryAfter time.Duration // for 429: how long Extend asked to wait; 0 when unknown
	Err        error         // a sentinel above, or context.Canceled

	cause    error // what went wrong below HTTP (net, JSON); kept for the text
	attempts int   // attempts made, when more than one
	retry    bool  // the failure is transient: a retry may succeed
}

// FieldError is one entry of the Errors list of an Extend error body.
type FieldError struct {
	Field   string `json:"Field"`
	Message string `json:"Message"`
}

// Error formats as "erp: GET /CustomerOrders/123: 404 Validation: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("erp: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d ", e.Status)
	}
	if e.Type != "" {
		b.WriteString(e.Type)
	} else if e.Err != nil {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "erp: "))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Message)
		if i == len(e.Fields)-1 {
			b.WriteString(")")
		}
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.attempts > 1 {
		fmt.Fprintf(&b, " (%d attempts)", e.attempts)
	}
	return b.String()
}

// Unwrap returns the sentinel and, when there is one, the underlying cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.cause}
}
