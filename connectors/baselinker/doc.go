// Package baselinker is the gateway's Baselinker integration file: the one
// URL (POST /baselinker) that Baselinker calls, with form fields bl_pass,
// action and the action's parameters, to read the merchant's products,
// stock and prices from Extend Commerce, to hand over marketplace orders,
// and to read and set their status, payment and tracking.
//
// The protocol is one handler with a table from action to function; each
// action has its own request and answer types, and every error is
// answered in Baselinker's convention, {"error":true,"error_code":…,
// "error_text":…}. docs/baselinker.md lists the actions, the answer shapes
// and the error codes, and what to enter in Baselinker's panel.
//
// Where the work is:
//   - Products (catalogue.go): one snapshot of the catalogue (article list,
//     full records, product groups, net prices for the configured Extend
//     customer) and one of the stock balances, kept in the cache store for
//     every replica (keeper.go) and refreshed in the background, under the
//     ERP's Background class, when Baselinker's reads find them old. The
//     first read of a large catalogue costs one ERP call per article (the
//     model's "list, then record by record"); later reads reuse every record
//     whose ChangedAt stands.
//   - Orders (orders.go, source.go): a marketplace order is handed to the
//     order pusher (pushers/orders) as its "baselinker" source, with
//     external order number B-<baselinker_id>: the pusher's intent, create
//     and look-up machinery creates it in Extend exactly once. OrderAdd
//     answers as soon as the order is durably recorded, with a numeric
//     order id of ours (index.go) that stays the same for every repeat.
//   - Status, payment and tracking (orders.go) are read from Extend: the
//     order's status and shipments, its invoices' payment. Extend's model
//     has no call to change an order, so what Baselinker sets with
//     OrderUpdate is recorded here and shown with the order.
package baselinker
