// Package work is the gateway's one way to do durable work: a queue in
// Redis that every source and sink of the pushers and the webhook intake
// use.
//
// A queue holds items by id. Adding an item that is already there changes
// nothing (the id is the dedupe key: a NotificationId, an
// ExternalOrderNumber, a product number). Each item has a due time; a
// worker on any replica claims due items, and the claim pushes their due
// time one visibility period ahead and gives them a fresh fencing token,
// so a claim is held by one worker and falls back to the others when that
// worker dies (a SIGKILL included). Every change made under a claim is a
// Lua script that first checks the token, so a worker that lost its claim
// can change nothing.
//
// A claim ends in one of: Ack (done; the item is remembered for the
// queue's retention so that a redelivery is recognised, or deleted),
// Retry (again after a backoff, the one retry policy: package retry), Later
// (again after a given wait, no try counted) or Park (off the queue, one
// [pushers.DeadLetter] with a bounded reason, kept for the dead-letter
// retention). Replay puts every parked item back. Status gives the one set
// of figures that GET /admin/pushers and /metrics show.
//
// Keys: every key of a queue named q sits under <prefix>{q}:, so that on a
// Redis Cluster all the keys one script touches hash to one slot.
package work
