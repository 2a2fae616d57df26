package api

// Pushers is the answer of GET /admin/pushers.
type Pushers struct {
	Pushers []PusherStatus `json:"pushers"`
}

// PusherStatus is one pusher in GET /admin/pushers, and the answer of
// POST /admin/pushers/{name}/replay. Times are RFC 3339 in UTC, "" when
// never.
type PusherStatus struct {
	Name              string       `json:"name"`                // stock, orders, webhooks
	State             string       `json:"state"`               // running, idle, failing, standby, off
	Backlog           int64        `json:"backlog"`             // items waiting
	OldestPendingSecs float64      `json:"oldest_pending_secs"` // age of the oldest waiting item; 0 when none
	LastSuccess       string       `json:"last_success"`
	LastError         string       `json:"last_error"`
	LastErrorAt       string       `json:"last_error_at"`
	DeadLetters       int64        `json:"dead_letters"`
	Recent            []DeadLetter `json:"recent_dead_letters"` // newest first, at most 20
	// NotFound counts the products the shop said it does not know at
	// their last push (stock to RetailCRM: notFoundOffers); they are not
	// retried. Absent when none.
	NotFound       int64    `json:"not_found,omitempty"`
	NotFoundRecent []string `json:"not_found_recent,omitempty"` // "sink: product", newest first, at most 20
}

// DeadLetter is one parked piece of work in a PusherStatus.
type DeadLetter struct {
	ID     string `json:"id"`
	At     string `json:"at"`
	Reason string `json:"reason"`
}

// DeadLetterPage is the answer of GET /admin/pushers/{name}/dead-letters:
// one page of a pusher's dead letters, newest first, and how many it holds.
type DeadLetterPage struct {
	Pusher      string       `json:"pusher"`
	DeadLetters []DeadLetter `json:"dead_letters"`
	Page        int          `json:"page"`
	PerPage     int          `json:"per_page"`
	Total       int64        `json:"total"`
}
