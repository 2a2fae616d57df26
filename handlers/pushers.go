package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/pushers"
)

// Pushers reports and re-drives the background pushers; *pushers.Registry
// has it.
type Pushers interface {
	Statuses(ctx context.Context) ([]pushers.Status, error)
	// Replay errors: pushers.ErrUnknown for a name not configured.
	Replay(ctx context.Context, name string) (pushers.Status, error)
}

// listPushers is GET /admin/pushers.
func (h *handler) listPushers(c echo.Context) error {
	out := api.Pushers{Pushers: []api.PusherStatus{}}
	if h.d.Pushers != nil {
		sts, err := h.d.Pushers.Statuses(c.Request().Context())
		if err != nil {
			return errStoreDown(err)
		}
		for _, st := range sts {
			out.Pushers = append(out.Pushers, pusherStatus(st))
		}
	}
	return writeJSON(c, http.StatusOK, out)
}

// replayPusher is POST /admin/pushers/{name}/replay: 202 and the pusher's
// status once the replay is queued.
func (h *handler) replayPusher(c echo.Context) error {
	if h.d.Pushers == nil {
		return pushers.ErrUnknown
	}
	st, err := h.d.Pushers.Replay(c.Request().Context(), c.Param("name"))
	if err != nil {
		return errStoreDown(err)
	}
	return writeJSON(c, http.StatusAccepted, pusherStatus(st))
}

// errPushersUnavailable: the pushers' state (in Redis) cannot be read or
// changed now (503).
var errPushersUnavailable = errors.New("handlers: pusher state unavailable")

// errStoreDown keeps ErrUnknown (404) and makes any other failure, Redis
// failing, errPushersUnavailable.
func errStoreDown(err error) error {
	if errors.Is(err, pushers.ErrUnknown) {
		return err
	}
	return fmt.Errorf("%w: %w", errPushersUnavailable, err)
}

// pusherStatus is the wire form of st.
func pusherStatus(st pushers.Status) api.PusherStatus {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	out := api.PusherStatus{
		Name: st.Name, State: st.State, Backlog: st.Backlog,
		OldestPendingSecs: st.OldestPending.Round(time.Millisecond).Seconds(),
		LastSuccess:       ts(st.LastSuccess), LastError: st.LastError, LastErrorAt: ts(st.LastErrorAt),
		DeadLetters: st.DeadLetters, Recent: []api.DeadLetter{},
		NotFound: st.NotFound, NotFoundRecent: st.NotFoundRecent,
	}
	for _, dl := range st.Recent {
		out.Recent = append(out.Recent, api.DeadLetter{ID: dl.ID, At: ts(dl.At), Reason: dl.Reason})
	}
	return out
}
