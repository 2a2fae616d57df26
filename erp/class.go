package erp

import "context"

// Class says who waits on an ERP call, so that the ERP's call budget
// (EXTEND_RATE_LIMIT) can go first to a caller who is waiting. It travels
// with the call's context, from whoever starts the work down to the
// transport that guards the ERP (erpguard), which reads it with ClassOf.
type Class uint8

const (
	// Interactive: a caller is waiting on the answer (Vendre, a
	// connector's request). The zero value: a call nobody marked is
	// treated as one somebody waits on.
	Interactive Class = iota
	// Refresh: a webhook-triggered refresh, or a stale-while-revalidate
	// renewal; somebody is served already, the answer gets fresher.
	Refresh
	// Background: sweeps, pushers, prefetch, `gateway probe`.
	Background
)

// String returns the class's name as metrics and logs show it.
func (c Class) String() string {
	switch c {
	case Refresh:
		return "refresh"
	case Background:
		return "background"
	default:
		return "interactive"
	}
}

type classKey struct{}

// WithClass returns ctx marked with class c; calls made with it are
// scheduled as c.
func WithClass(ctx context.Context, c Class) context.Context {
	return context.WithValue(ctx, classKey{}, c)
}

// ClassOf returns the class ctx was marked with, Interactive when none.
func ClassOf(ctx context.Context) Class {
	if c, ok := ctx.Value(classKey{}).(Class); ok {
		return c
	}
	return Interactive
}

type shareKey struct{}

// WithShare returns ctx marked with the fairness key of whoever the calls
// made with it serve: "customer:10001", "document:<token>". Within a
// class, the ERP's budget is shared fairly among the keys that spend it,
// so that one customer, or one download link, cannot take the whole
// budget while others wait. Calls without a key (pushers, sweeps) share
// their class's budget with nobody in particular.
func WithShare(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, shareKey{}, key)
}

// ShareOf returns the fairness key ctx was marked with, "" when none.
func ShareOf(ctx context.Context) string {
	s, _ := ctx.Value(shareKey{}).(string)
	return s
}
