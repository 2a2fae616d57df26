// Package retailcrm speaks RetailCRM's API v5 for the gateway, which
// RetailCRM knows as a registered warehouse system:
//
//   - [Client] makes the calls: the module registration, stock uploads of
//     at most 250 offers, the order list, order edits. Every call is paced
//     to RetailCRM's budget of 10 calls a second per API key.
//   - [Registrar] registers the module at start and retries until
//     RetailCRM took it; it shows as "retailcrm-module" in /admin/pushers.
//   - [Callbacks] answers RetailCRM's calls to the module (the
//     inventoriesUpload callback), after checking the clientId in
//     constant time.
//
// The order pull and the shipment report are an order source of the order
// pusher (pushers/orders), and the stock upload is a sink of the stock
// pusher (pushers/stock); both use the Client.
//
// RetailCRM's official Go client (github.com/retailcrm/api-client-go, v1,
// the version the module proxy serves) does not fit: its calls take no
// context (no deadline, no cancel on shutdown), its HTTP client cannot be
// replaced, its Order type has no "shipped" field, and its module type
// drops an empty "actions". The calls here follow its wire format.
//
// The merchant's set-up is in docs/retailcrm.md.
package retailcrm
