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
	// DeadLetters returns up to n dead letters after the first offset,
	// newest first, and how many there are. Errors as Replay.
	DeadLetters(ctx context.Context, name string, offset, n int64) ([]pushers.DeadLetter, int64, error)
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

// deadLetters is GET /admin/pushers/{name}/dead-letters?page=&per_page=:
// one page of the pusher's dead letters, newest first (their reasons, not
// the work they hold), and how many it holds.
func (h *handler) deadLetters(c echo.Context) error {
	p, err := parsePage(h.validator(c), c.QueryParams())
	if err != nil {
		return err
	}
	if h.d.Pushers == nil {
		return pushers.ErrUnknown
	}
	name := c.Param("name")
	letters, total, err := h.d.Pushers.DeadLetters(c.Request().Context(), name,
		int64(p.Page-1)*int64(p.PerPage), int64(p.PerPage))
	if err != nil {
		return errStoreDown(err)
	}
	out := api.DeadLetterPage{Pusher: name, DeadLetters: make([]api.DeadLetter, 0, len(letters)),
		Page: p.Page, PerPage: p.PerPage, Total: total}
	for _, dl := range letters {
		out.DeadLetters = append(out.DeadLetters, deadLetter(dl))
	}
	return c.JSON(http.StatusOK, out)
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
	ts := rfc3339
	out := api.PusherStatus{
		Name: st.Name, State: st.State, Backlog: st.Backlog,
		OldestPendingSecs: st.OldestPending.Round(time.Millisecond).Seconds(),
		LastSuccess:       ts(st.LastSuccess), LastError: st.LastError, LastErrorAt: ts(st.LastErrorAt),
		DeadLetters: st.DeadLetters, Recent: []api.DeadLetter{},
		NotFound: st.NotFound, NotFoundRecent: st.NotFoundRecent,
	}
	for _, dl := range st.Recent {
		out.Recent = append(out.Recent, deadLetter(dl))
	}
	return out
}

// deadLetter is the wire form of dl.
func deadLetter(dl pushers.DeadLetter) api.DeadLetter {
	return api.DeadLetter{ID: dl.ID, At: rfc3339(dl.At), Reason: dl.Reason}
}

// rfc3339 is t in UTC as RFC 3339, "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
