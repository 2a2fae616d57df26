// Package webhook takes Extend Commerce webhooks in and applies them once.
//
// [Intake] checks a delivery's ms-signature (HMAC-SHA256 of the raw body,
// docs/extend.md, "Webhooks"), and records it in the durable-work queue
// "wh" (pushers/work) before the gateway answers 2xx: a delivery answered
// 2xx is never lost with the process. The queue's id is the hash of the
// NotificationId, so a redelivery is answered 2xx and not recorded again
// (one Lua script checks and records).
//
// [Consumer] works the queue on every replica: each delivery is claimed
// by one worker under a fencing token; a delivery whose worker died is
// claimed by another once the claim lapsed (ReclaimAfter). A notification
// is a trigger (the documented practice): order and invoice events make
// the gateway fetch that record and refresh the owning customer's
// answers, balance events feed the stock pusher. A delivery is
// acknowledged, fenced by its claim, only after it was applied, and then
// remembered for DedupeTTL, so each notification takes effect once.
// Applying is idempotent (a refresh), so the rare repeat after a crash
// between applying and acknowledging changes nothing. Failures are
// retried by the one retry policy and parked as dead letters after
// MaxAttempts.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/pushers/work"
)

// MaxBody is the largest delivery accepted (work.MaxBody); larger is a 413.
const MaxBody = work.MaxBody

// Source names for the Observer.
const SourceExtend = "extend"

// Outcomes of a delivery at intake and of a notification when applied.
const (
	OutcomeRecorded    = "recorded"    // written to the stream
	OutcomeDuplicate   = "duplicate"   // a redelivery, already recorded or applied
	OutcomeRejected    = "rejected"    // bad or missing signature
	OutcomeInvalid     = "invalid"     // signed, but not the documented JSON
	OutcomeUnavailable = "unavailable" // Redis could not record it
	OutcomeApplied     = "applied"     // refreshed / handed to the stock pusher
	OutcomeIgnored     = "ignored"     // an action we do not use, or a record the ERP does not have
	OutcomeRetry       = "retry"       // applying failed for now; retried later
	OutcomeDead        = "dead_letter" // failed too often; parked for an operator
	OutcomeTooLarge    = "too_large"   // over MaxBody
	actionNone         = ""            // a delivery rejected before its actions were read
	actionOther        = "Other"       // an action the model does not name
)

// Errors of Receive: the ones every HTTP source shares (package work), so
// that the order sources need not import this package.
var (
	// ErrSignature: the ms-signature header is missing or matches none of
	// the secrets. Nothing was recorded.
	ErrSignature = work.ErrSignature
	// ErrPayload: the signature is good but the body is not a delivery as
	// documented (a JSON object with Notifications and an Id or
	// Properties.NotificationId).
	ErrPayload = work.ErrPayload
	// ErrUnavailable: Redis is not configured or could not record the
	// delivery; the sender should retry (Extend does, with Attempt + 1).
	ErrUnavailable = work.ErrUnavailable
	// ErrTooLarge: the body is larger than MaxBody.
	ErrTooLarge = work.ErrTooLarge
)

// Observer is told of every delivery and notification, for metrics
// (gateway_webhooks_total{source,action,outcome}). It must be cheap and safe
// for concurrent use.
type Observer interface {
	Webhook(source, action, outcome string)
}

type nopObserver struct{}

func (nopObserver) Webhook(string, string, string) {}

// Verify reports whether header ("sha256=<hex>", hex in either case) is the
// HMAC-SHA256 of body under one of secrets. Every secret is tried and
// compared in constant time, so the answer's timing tells nothing about
// which one matched or how much of the digest did.
func Verify(body []byte, header string, secrets []string) bool {
	header = strings.TrimSpace(header)
	if len(header) < 7 || !strings.EqualFold(header[:7], "sha256=") {
		return false
	}
	got, err := hex.DecodeString(strings.TrimSpace(header[7:]))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ok := false
	for _, s := range secrets {
		if s == "" {
			continue
		}
		m := hmac.New(sha256.New, []byte(s))
		m.Write(body)
		if hmac.Equal(m.Sum(nil), got) {
			ok = true
		}
	}
	return ok
}

// Sign returns the ms-signature header value for body under secret, as
// Extend sends it (upper-case hex). Tests and tools use it.
func Sign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// Delivery is one webhook call of Extend Commerce (docs/extend.md, "Webhooks").
type Delivery struct {
	ID         string `json:"Id"`
	Properties struct {
		NotificationID string `json:"NotificationId"`
	} `json:"Properties"`
	Notifications []Notification `json:"Notifications"`
}

// Notification is one event of a delivery; Details differ per Action and
// are decoded leniently when applied.
type Notification struct {
	Action  string          `json:"Action"`
	Details json.RawMessage `json:"Details"`
}

// key is what redeliveries share: Properties.NotificationId, or the
// delivery Id when there is none.
func (d *Delivery) key() string {
	if d.Properties.NotificationID != "" {
		return d.Properties.NotificationID
	}
	return d.ID
}

// parseDelivery decodes body, wrapping ErrPayload when it is not a
// documented delivery.
func parseDelivery(body []byte) (*Delivery, error) {
	var d struct {
		Delivery
		Notifications *[]Notification `json:"Notifications"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, shortJSONError(err))
	}
	if d.Notifications == nil {
		return nil, fmt.Errorf("%w: no Notifications", ErrPayload)
	}
	d.Delivery.Notifications = *d.Notifications
	if d.key() == "" {
		return nil, fmt.Errorf("%w: neither Properties.NotificationId nor Id", ErrPayload)
	}
	if len(d.key()) > 200 {
		return nil, fmt.Errorf("%w: NotificationId too long", ErrPayload)
	}
	return &d.Delivery, nil
}

// shortJSONError keeps a decoder error free of the body's content.
func shortJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "malformed JSON at offset " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "wrong type for " + te.Field
	}
	return "not a JSON object"
}

// knownActions are the events docs/extend.md names; others count as
// "Other" in metrics, so a sender cannot grow the label set.
var knownActions = map[string]bool{
	"OrderCreated": true, "OrderReserved": true, "OrderPicked": true, "OrderCancelled": true,
	"OrderDeliveryDataChanged": true, "CustomerInvoiceCreated": true, "CustomerInvoiceChanged": true,
	"AvailableBalanceChanged": true, "BalanceChanged": true, "CustomerChanged": true,
	"CustomerCreated": true, "ProductCreated": true, "ProductChanged": true,
	"PurchasePartiallyDelivered": true, "PurchaseCancelled": true, "PurchaseDelivered": true,
	"OfferCreated": true, "OfferChanged": true,
}

func actionLabel(a string) string {
	if knownActions[a] {
		return a
	}
	return actionOther
}

// queueName is the durable-work queue of the deliveries: its keys are
// <prefix>{wh}:... Each item is one notification, by the hash of its key
// (it comes from outside), with the fields "n" (the key), "body" (the raw
// delivery) and "at" (when it arrived, Unix ms).
const queueName = "wh"

func hashKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// DefaultPrefix is the key prefix of the gateway's durable work, apart from
// the cache's "gw:".
const DefaultPrefix = "gwq:"

// DefaultDedupeTTL is how long a NotificationId is remembered after it
// was applied.
const DefaultDedupeTTL = 7 * 24 * time.Hour

// Options configure an Intake and a Consumer.
type Options struct {
	// Prefix of every Redis key; DefaultPrefix when "".
	Prefix string
	// DedupeTTL is how long a NotificationId is remembered after it was
	// applied (while it waits, it is always remembered);
	// DefaultDedupeTTL when 0.
	DedupeTTL time.Duration
	// Observer is told every outcome; nil: nobody.
	Observer Observer
}

func (o *Options) defaults() {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.DedupeTTL <= 0 {
		o.DedupeTTL = DefaultDedupeTTL
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
}

// Intake verifies and records Extend deliveries. It is safe for concurrent
// use.
type Intake struct {
	q       *work.Queue // nil without Redis
	secrets []string
	opts    Options
	now     func() time.Time
	wake    atomic.Pointer[wakeFunc] // the consumer of this process, if any
}

// wakeFunc wakes an idle worker of the consumer.
type wakeFunc struct{ f func() }

// NewIntake returns an Intake accepting deliveries signed with any of
// secrets. rdb nil means no Redis: every verified delivery is then
// ErrUnavailable, since it could not be recorded durably.
func NewIntake(rdb redis.UniversalClient, secrets []string, opts Options) *Intake {
	opts.defaults()
	in := &Intake{secrets: secrets, opts: opts, now: time.Now}
	if rdb != nil {
		in.q = work.New(rdb, queueName, work.Config{Prefix: opts.Prefix})
	}
	return in
}

// Enabled reports whether a secret is configured; without one the route
// does not exist.
func (in *Intake) Enabled() bool {
	for _, s := range in.secrets {
		if s != "" {
			return true
		}
	}
	return false
}

// Receipt is what Receive did with a delivery.
type Receipt struct {
	Duplicate bool // already recorded: not recorded again
	Actions   int  // notifications in it
}

// Receive checks body's signature and records it. Errors: ErrTooLarge,
// ErrSignature (nothing recorded), ErrPayload, ErrUnavailable.
func (in *Intake) Receive(ctx context.Context, body []byte, signature string) (Receipt, error) {
	obs := in.opts.Observer
	if len(body) > MaxBody {
		obs.Webhook(SourceExtend, actionNone, OutcomeTooLarge)
		return Receipt{}, ErrTooLarge
	}
	if !Verify(body, signature, in.secrets) {
		obs.Webhook(SourceExtend, actionNone, OutcomeRejected)
		return Receipt{}, ErrSignature
	}
	d, err := parseDelivery(body)
	if err != nil {
		obs.Webhook(SourceExtend, actionNone, OutcomeInvalid)
		return Receipt{}, err
	}
	if in.q == nil {
		obs.Webhook(SourceExtend, actionNone, OutcomeUnavailable)
		return Receipt{}, fmt.Errorf("%w: no Redis configured", ErrUnavailable)
	}
	// Recorded once by the hash of its key: a redelivery finds it queued,
	// or applied and remembered for DedupeTTL.
	added, err := in.q.Add(ctx, hashKey(d.key()), time.Time{},
		"n", d.key(), "body", string(body), "at", in.now().UnixMilli())
	if err != nil {
		obs.Webhook(SourceExtend, actionNone, OutcomeUnavailable)
		return Receipt{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	outcome := OutcomeRecorded
	if !added {
		outcome = OutcomeDuplicate
	} else if w := in.wake.Load(); w != nil {
		w.f()
	}
	for _, nt := range d.Notifications {
		obs.Webhook(SourceExtend, actionLabel(nt.Action), outcome)
	}
	return Receipt{Duplicate: !added, Actions: len(d.Notifications)}, nil
}
