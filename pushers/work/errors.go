package work

import "errors"

// MaxBody is the largest delivery a source takes over HTTP (256 KiB);
// larger is ErrTooLarge.
const MaxBody = 256 << 10

// Errors of a source that takes deliveries over HTTP (the Extend webhook,
// Vendre's new_order webhook) before they are added to a queue. The
// handlers map them to 401, 400, 413 and 503.
var (
	// ErrSignature: the signature or token is missing or wrong. Nothing
	// was recorded.
	ErrSignature = errors.New("webhook: missing or invalid signature")
	// ErrPayload: the body is not a delivery of the documented shape.
	ErrPayload = errors.New("webhook: not a valid delivery")
	// ErrUnavailable: the delivery could not be recorded durably (no
	// Redis, or Redis failed); the sender should retry.
	ErrUnavailable = errors.New("webhook: cannot record the delivery now")
	// ErrTooLarge: the body is larger than MaxBody.
	ErrTooLarge = errors.New("webhook: body too large")
)
