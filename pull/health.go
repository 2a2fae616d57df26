package pull

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/vendre-extend/gateway/erp"
)

// downAfter is how long every ERP call must have failed before the ERP is
// known to be down (contract: readiness turns 503 within 10 s).
const downAfter = 5 * time.Second

// erpHealth remembers when the ERP last answered and last failed. Answers
// that prove the ERP works (a record, a 404) count as success; throttling,
// outages and timeouts count as failure.
type erpHealth struct {
	lastOK, lastFail, failingSince atomic.Int64 // unix nanoseconds
}

func (h *erpHealth) observe(err error, now time.Time) {
	if err == nil || !isOutage(err) {
		h.lastOK.Store(now.UnixNano())
		h.failingSince.Store(0)
		return
	}
	h.lastFail.Store(now.UnixNano())
	h.failingSince.CompareAndSwap(0, now.UnixNano())
}

// down reports whether every call for at least downAfter failed, and the
// last failure is recent (with no calls at all, nothing is known).
func (h *erpHealth) down(now time.Time) bool {
	since := h.failingSince.Load()
	if since == 0 {
		return false
	}
	last := h.lastFail.Load()
	return now.UnixNano()-since >= int64(downAfter) && now.UnixNano()-last < int64(time.Minute)
}

// isOutage tells the errors that mean "the ERP does not work" from those
// that mean "the ERP works and said no".
func isOutage(err error) bool {
	return errors.Is(err, erp.ErrUnavailable) || errors.Is(err, erp.ErrThrottled) ||
		errors.Is(err, erp.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}
