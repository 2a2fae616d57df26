package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/api"
)

// healthz answers the liveness probe: the process serves.
func (h *handler) healthz(c echo.Context) error {
	return writeJSON(c, http.StatusOK, api.Health{Status: "ok"})
}

// readyz answers the readiness probe: 200 when Redis (if configured) is
// not down and the ERP is not known to be down (its circuit is open), else
// 503 naming the part. Both notions are the ones the status page and the
// metrics show.
func (h *handler) readyz(c echo.Context) error {
	checks := map[string]string{"erp": "ok"}
	ready := true
	if h.d.Redis != nil {
		checks["redis"] = "ok"
		if h.d.Redis.RedisDown() {
			checks["redis"] = "down"
			ready = false
		}
	}
	if h.d.ERP != nil && h.d.ERP.Open() {
		checks["erp"] = "down"
		ready = false
	}
	if !ready {
		return writeJSON(c, http.StatusServiceUnavailable, api.Health{Status: "unavailable", Checks: checks})
	}
	return writeJSON(c, http.StatusOK, api.Health{Status: "ok", Checks: checks})
}

// flush answers POST /admin/cache/flush: one customer's answers with
// customer_no, else every answer and record of the gateway.
// errResumeUnavailable: the pauses, kept in Redis, cannot be lifted now.
var errResumeUnavailable = errors.New("handlers: erp pauses unavailable")

// resumeERP answers POST /admin/erp/resume: it lifts the pauses Extend
// asked for, on every replica.
func (h *handler) resumeERP(c echo.Context) error {
	if h.d.Pauses != nil {
		if err := h.d.Pauses.Resume(c.Request().Context()); err != nil {
			return fmt.Errorf("%w: %w", errResumeUnavailable, err)
		}
	}
	return c.JSON(http.StatusOK, api.Resumed{Resumed: true})
}

func (h *handler) flush(c echo.Context) error {
	q := c.QueryParams()
	ctx := c.Request().Context()
	var n int
	var err error
	if _, given := q["customer_no"]; given {
		customerNo, perr := single(q, "customer_no")
		if perr != nil {
			return perr
		}
		if !matchChars(customerNo, 32, false) {
			return badParam("customer_no")
		}
		n, err = h.d.Pull.FlushCustomer(ctx, customerNo)
	} else {
		n, err = h.d.Pull.FlushAll(ctx)
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, api.Flushed{Flushed: n})
}
