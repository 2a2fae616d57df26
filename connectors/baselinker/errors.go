package baselinker

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/vendre-extend/gateway/erp"
)

// Error codes of the answers, error_code in Baselinker's convention
// (docs/baselinker.md lists them with their HTTP statuses).
const (
	CodeNoPassword        = "no_password"        // 401: bl_pass missing
	CodeBadPassword       = "bad_password"       // 401: bl_pass wrong
	CodeNoAction          = "no_action"          // 422: action missing
	CodeUnsupportedAction = "unsupported_action" // 422: an action we do not know
	CodeInvalidRequest    = "invalid_request"    // 422: a parameter is missing or malformed
	CodeInvalidOrder      = "invalid_order"      // 422: OrderAdd's data cannot become an Extend order
	CodeUnknownProduct    = "unknown_product"    // 422: OrderAdd names a product Extend does not have
	CodeTooLarge          = "too_large"          // 413: the body is over MaxBody
	CodeCatalogueLoading  = "catalogue_loading"  // 503: the first read of the catalogue is still running
	CodeERPUnavailable    = "erp_unavailable"    // 503: Extend is down, busy or slow; try again later
	CodeERPError          = "erp_error"          // 502: Extend answered something unusable
	CodeOrdersOff         = "orders_unavailable" // 503: orders need Redis, which is not configured or not answering
	CodeInternal          = "internal"           // 500: a bug of ours
)

// Error is an answer in Baselinker's error convention. Text is shown to
// the merchant in Baselinker's panel; the cause is logged, never shown.
type Error struct {
	Status int    // HTTP status
	Code   string // error_code
	Text   string // error_text
	cause  error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("baselinker: %s: %s: %v", e.Code, e.Text, e.cause)
	}
	return fmt.Sprintf("baselinker: %s: %s", e.Code, e.Text)
}

func (e *Error) Unwrap() error { return e.cause }

func newError(status int, code, text string) *Error {
	return &Error{Status: status, Code: code, Text: text}
}

// invalid is a 422 invalid_request naming what is wrong.
func invalid(format string, a ...any) *Error {
	return newError(http.StatusUnprocessableEntity, CodeInvalidRequest, fmt.Sprintf(format, a...))
}

// errLoading is the answer while the first catalogue read runs.
type errLoading struct {
	what        string
	done, total int
}

func (e *errLoading) Error() string {
	if e.total > 0 {
		return fmt.Sprintf("the %s is being read from the ERP (%d of %d products so far); try again in a few minutes", e.what, e.done, e.total)
	}
	return fmt.Sprintf("the %s is being read from the ERP; try again in a few minutes", e.what)
}

// errOrdersOff: the order actions need Redis and there is none.
var errOrdersOff = errors.New("orders need REDIS_URL: they are recorded in Redis before they are answered")

// classify turns any error into the answer Baselinker gets. ERP failures
// that may pass are erp_unavailable (Baselinker tries again later); what
// the ERP answered wrongly is erp_error; anything else is internal, its
// cause logged.
func classify(err error) *Error {
	var e *Error
	var l *errLoading
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &l):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeCatalogueLoading, Text: l.Error()}
	case errors.Is(err, errOrdersOff):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeOrdersOff, Text: errOrdersOff.Error()}
	case errors.Is(err, erp.ErrThrottled), errors.Is(err, erp.ErrUnavailable), errors.Is(err, erp.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeERPUnavailable,
			Text: "the ERP is unavailable or busy; try again shortly", cause: err}
	case errors.Is(err, erp.ErrBadResponse), errors.Is(err, erp.ErrValidation), errors.Is(err, erp.ErrUnauthorized),
		errors.Is(err, erp.ErrNotFound):
		return &Error{Status: http.StatusBadGateway, Code: CodeERPError, Text: "the ERP answered something unusable", cause: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Text: "internal error", cause: err}
}
