package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"strings"
)

// All cache keys are built in this file.
//
// A key is segments joined by ':'. The first is the format version: bump
// version when the bytes stored under any key change shape, and a new
// gateway never reads an old one's entries (they expire by themselves).
// v3: generations became random tokens instead of counters (flush.go);
// v3: a customer's answers fall in families.
// v4: hash tags, for Redis Cluster (below).
// v5: a customer's generations, counts and flush sequence are in its
// shard's slot; flush notices name the sequence they follow (flush.go).
//
// Every answer that belongs to a customer starts with
// "v5:c:{<customerNo>}:<family>:", so CustomerPrefix flushes all of a
// customer's answers and nothing of anyone else's, and a change of one of
// the customer's orders retires the orders family (the order lists, the
// orders, the backorders) and leaves the invoices, the addresses and the
// prices alone.
//
// Hash tags. On a Redis Cluster a script or transaction may only touch
// keys of one hash slot, and a key's slot is that of the text between its
// first '{' and the next '}'. The braces in keys are literal. A customer's
// answers and fill locks carry the tag "{<customerNo>}", so customers'
// data spreads over every slot of the cluster. What a customer's flush
// touches (the generations of its families, the counts of what was
// written under them, and the flush sequence they are announced in)
// carries the tag of the customer's shard, "{s<n>}" (Shard: a hash of
// the customer's number, one of Shards): a customer's flush is one script
// on one slot, and the flushes of all customers spread over Shards slots,
// each with its own sequence. The flush-all generation, its sequence, the
// feed and the count of everything carry "{gen}": a flush of everything
// is one script on that slot. Keys of no customer (records, stock) carry
// no tag and spread over the slots by their whole name. seg never lets a
// '{' or '}' through, so no input can move a key's tag.
//
// Every text segment passes through seg: text made only of
// [A-Za-z0-9._-] is kept as it is; anything else (the empty string, ':',
// '*', spaces, non-ASCII...) becomes '~' followed by its bytes in hex. '~'
// cannot start a kept segment and hex has no ':', so distinct inputs always
// give distinct keys, no segment can add or shift a ':', and no key
// contains a glob character.

// version is the first segment of every key.
const version = "v5"

// The families of a customer's answers: what one kind of change in the
// ERP retires together.
const (
	FamilyOrders   = "orders"   // order lists, orders, backorders
	FamilyInvoices = "invoices" // invoice lists, invoices, credit notes
	FamilyCustomer = "customer" // addresses
	FamilyPrices   = "prices"   // prices
)

// families are all of them, as a customer flush retires them.
var families = []string{FamilyOrders, FamilyInvoices, FamilyCustomer, FamilyPrices}

// Keys builds cache keys. Its zero value is ready to use:
//
//	var keys cache.Keys
//	k := keys.Order(customerNo, id)
type Keys struct{}

// AllPrefix is the prefix of every key the gateway writes in this format:
// DeletePrefix(AllPrefix()) flushes everything.
func (Keys) AllPrefix() string { return version + ":" }

// CustomerPrefix is the prefix of every key holding an answer for
// customerNo, "v5:c:{<customerNo>}:", the braces literal (the customer's
// hash tag). Customer numbers of one ending where another continues
// ("1000", "10001") never share it.
func (Keys) CustomerPrefix(customerNo string) string {
	return version + ":c:" + tag(customerNo) + ":"
}

// tag is the hash tag of customerNo's keys, "{<customerNo>}".
func tag(customerNo string) string { return "{" + seg(customerNo) + "}" }

// FamilyPrefix is the prefix of the keys of one family of customerNo's
// answers, "v5:c:{customerNo}:{family}:".
func (k Keys) FamilyPrefix(customerNo, family string) string {
	return k.CustomerPrefix(customerNo) + family + ":"
}

// OrderList is the key of one page of GET /v1/orders:
// "v5:c:{customerNo}:orders:list:{from}:{to}:{page}:{perPage}". from and
// to are the resolved YYYY-MM-DD dates, not the raw query, so that
// defaulted and explicit ranges share an entry.
func (k Keys) OrderList(customerNo, from, to string, page, perPage int) string {
	return k.list(k.FamilyPrefix(customerNo, FamilyOrders)+"list:", from, to, page, perPage)
}

// Order is the key of GET /v1/orders/{id}:
// "v5:c:{customerNo}:orders:one:{id}".
func (k Keys) Order(customerNo, id string) string {
	return k.FamilyPrefix(customerNo, FamilyOrders) + "one:" + seg(id)
}

// Backorders is the key of GET /v1/backorders on day today (the answer
// covers the year up to it): "v5:c:{customerNo}:orders:backorders:{today}".
func (k Keys) Backorders(customerNo, today string) string {
	return k.FamilyPrefix(customerNo, FamilyOrders) + "backorders:" + seg(today)
}

// An invoice's payment status depends on the day (overdue after its due
// date), so the keys of invoice answers hold the merchant's today
// (YYYY-MM-DD): an answer built on another day is never served.

// InvoiceList is the key of one page of GET /v1/invoices on day today:
// "v5:c:{customerNo}:invoices:list:{today}:{from}:{to}:{page}:{perPage}".
func (k Keys) InvoiceList(customerNo, today, from, to string, page, perPage int) string {
	return k.list(k.FamilyPrefix(customerNo, FamilyInvoices)+"list:"+seg(today)+":", from, to, page, perPage)
}

// Document is the key of invoice invoiceNo's PDF as customerNo opened it:
// "v5:c:{customerNo}:invoices:document:{invoiceNo}".
func (k Keys) Document(customerNo, invoiceNo string) string {
	return k.FamilyPrefix(customerNo, FamilyInvoices) + "document:" + seg(invoiceNo)
}

// Invoice is the key of GET /v1/invoices/{id} on day today:
// "v5:c:{customerNo}:invoices:one:{today}:{id}".
func (k Keys) Invoice(customerNo, today, id string) string {
	return k.FamilyPrefix(customerNo, FamilyInvoices) + "one:" + seg(today) + ":" + seg(id)
}

// CreditInvoiceList is the key of one page of GET /v1/credit-invoices on
// day today:
// "v5:c:{customerNo}:invoices:credits:{today}:{from}:{to}:{page}:{perPage}".
func (k Keys) CreditInvoiceList(customerNo, today, from, to string, page, perPage int) string {
	return k.list(k.FamilyPrefix(customerNo, FamilyInvoices)+"credits:"+seg(today)+":", from, to, page, perPage)
}

// Addresses is the key of GET /v1/addresses:
// "v5:c:{customerNo}:customer:addresses".
func (k Keys) Addresses(customerNo string) string {
	return k.FamilyPrefix(customerNo, FamilyCustomer) + "addresses"
}

// Price is the key of one product's part of GET /v1/prices for one
// customer: "v5:c:{customerNo}:prices:{productNo}". Prices are per
// customer, so the key is under the customer's prefix and flushed with it.
func (k Keys) Price(customerNo, productNo string) string {
	return k.FamilyPrefix(customerNo, FamilyPrices) + seg(productNo)
}

// connectorVersion is the format version of Connector keys, apart from
// version: a change of the answers' keys must not throw away what the
// connectors keep.
const connectorVersion = "v2"

// Connector is the key of a connector's kept data,
// "conn:v2:{name}:{part}:{part}…" (the Baselinker connector's product
// catalogue, for one). It lies outside AllPrefix on purpose: flushing
// Vendre's answers must not throw away a catalogue whose rebuild costs one
// ERP call per article.
func (Keys) Connector(name string, parts ...string) string {
	k := "conn:" + connectorVersion + ":" + seg(name)
	for _, p := range parts {
		k += ":" + seg(p)
	}
	return k
}

// OrderRecord is the key of the raw ERP record of an order,
// "v5:rec:order:{orderNumber}". It is not scoped to a customer: whoever
// reads it must check that the record belongs to the customer asking.
func (Keys) OrderRecord(orderNumber string) string {
	return version + ":rec:order:" + seg(orderNumber)
}

// InvoiceRecord is the key of the raw ERP record of an invoice,
// "v5:rec:invoice:{invoiceNumber}". Like OrderRecord, not customer-scoped.
func (Keys) InvoiceRecord(invoiceNumber string) string {
	return version + ":rec:invoice:" + seg(invoiceNumber)
}

// Generations (flush.go). The Redis tier never holds an entry under the
// bare key above: it holds it under Generation(key, all, scope), the key
// followed by the flush-all generation and, for a key of a customer, the
// generation of its family of that customer's answers. A generation is a
// random token, never a counter, so that it cannot repeat: not after a
// flush, and not after Redis lost its data and everything started again.
// Keys added above get this for free: a key that starts with
// "v5:c:{customerNo}:{family}:" follows its family, any other key only
// GenAll.

// Generation is the key under which key is stored in Redis while the
// flush-all generation is all and its scope's generation is scope (0 for a
// key of no customer): "{key}:g{all}.{scope}", both in hex. The suffix is
// one more ':'-segment without a ':', so distinct (key, all, scope) give
// distinct keys.
func (Keys) Generation(key string, all, scope uint64) string {
	b := make([]byte, 0, len(key)+36)
	b = append(b, key...)
	b = append(b, ":g"...)
	b = strconv.AppendUint(b, all, 16)
	b = append(b, '.')
	b = strconv.AppendUint(b, scope, 16)
	return string(b)
}

// Scope returns the scope of a key: "{customer}:{family}" for a key of a
// customer's answers (as the key spells them), "" for any other key. It
// does not allocate.
func (Keys) Scope(key string) string {
	rest, ok := strings.CutPrefix(key, version+":c:")
	if !ok {
		return ""
	}
	i := strings.IndexByte(rest, ':')
	if i <= 0 {
		return ""
	}
	j := strings.IndexByte(rest[i+1:], ':')
	if j <= 0 {
		return ""
	}
	return rest[:i+1+j]
}

// FamilyScope is Scope of every key of one family of customerNo's
// answers, "{<customerNo>}:<family>".
func (Keys) FamilyScope(customerNo, family string) string { return tag(customerNo) + ":" + family }

// GenAll holds the flush-all generation, "v5:{gen}:all".
func (Keys) GenAll() string { return version + ":{gen}:all" }

// GenScope holds the generation of a scope, "v5:{s<n>}:gen:<scope>",
// scope as returned by Scope or FamilyScope, in the slot of its
// customer's shard.
func (Keys) GenScope(scope string) string { return shardTag(scope) + ":gen:" + scope }

// GenSeq counts the flushes of everything since Redis last lost its data,
// "v5:{gen}:seq": a replica that sees it move without having heard of the
// flush forgets the generations it knew.
func (Keys) GenSeq() string { return version + ":{gen}:seq" }

// Shards is how many flush sequences the customers' flushes are spread
// over (Shard). Changing it moves every customer's generations to another
// key, which needs a new version.
const Shards = 64

// Shard is the shard of a scope's customer, scope as returned by Scope or
// FamilyScope (or CustomerPrefix's tag): FNV-1a of the customer's tag
// "{<customerNo>}", modulo Shards. Every scope of one customer has the
// same shard.
func (Keys) Shard(scope string) int {
	if i := strings.IndexByte(scope, ':'); i > 0 {
		scope = scope[:i]
	}
	h := fnv.New32a()
	h.Write([]byte(scope))
	return int(h.Sum32() % Shards)
}

// ShardSeq counts the flushes of the customers of shard n (Shard) since
// Redis last lost its data, "v5:{s<n>}:seq", in the slot of their
// generations: a customer's flush increments it in the same script.
func (Keys) ShardSeq(n int) string { return shardKey(n) + ":seq" }

// shardTag is the start of the keys of scope's shard, "v5:{s<n>}".
func shardTag(scope string) string { return shardKey(Keys{}.Shard(scope)) }

// shardKey is the start of the keys of shard n, "v5:{s<n>}".
func shardKey(n int) string { return version + ":{s" + strconv.Itoa(n) + "}" }

// Counted is the prefix of the HyperLogLogs that count the keys written
// under the generations of scope, which a flush reads and deletes: for
// scope "" (every key, by the flush-all generation) "v5:{gen}:n:", the
// HyperLogLog being "<Counted>" + all; for a customer's scope
// "v5:{s<n>}:n:{<customerNo>}:", in the slot of the customer's shard, the
// HyperLogLog being "<Counted>" + all + "." + the scope's token (hex, as
// in Generation).
func (Keys) Counted(scope string) string {
	if i := strings.IndexByte(scope, ':'); i > 0 {
		return shardTag(scope) + ":n:" + scope[:i] + ":"
	}
	return version + ":{gen}:n:"
}

// Feed holds the time up to which every change in the ERP has been
// announced to the cache (Cache.Confirm), in Unix nanoseconds:
// "v5:{gen}:feed".
func (Keys) Feed() string { return version + ":{gen}:feed" }

// Lease is the key of a lease only one replica holds at a time (such as
// the change sweep's): "v5:lease:{name}".
func (Keys) Lease(name string) string { return version + ":lease:" + seg(name) }

// FlushChannel is the pub/sub channel on which flushes are announced,
// "v5:flushes".
func (Keys) FlushChannel() string { return version + ":flushes" }

// Lock is the key of the short lock held by the replica that fills the
// entries stored under gkeys (Generation keys): "v5:lock:{gkey}" for one,
// "v5:lock:many:{sha256 of them}" for several.
func (Keys) Lock(gkeys ...string) string {
	if len(gkeys) == 1 {
		return version + ":lock:" + gkeys[0]
	}
	h := sha256.New()
	for _, k := range gkeys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return version + ":lock:many:" + hex.EncodeToString(h.Sum(nil))
}

// list builds the key of one page of a list: prefix, then the dates and
// the page.
func (Keys) list(prefix, from, to string, page, perPage int) string {
	var b strings.Builder
	b.Grow(len(prefix) + 32)
	b.WriteString(prefix)
	b.WriteString(seg(from))
	b.WriteByte(':')
	b.WriteString(seg(to))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(page))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(perPage))
	return b.String()
}

// seg returns s unchanged when it is made only of [A-Za-z0-9._-] and is not
// empty, and '~' followed by the hex of its bytes otherwise.
func seg(s string) string {
	if s != "" && safe(s) {
		return s
	}
	return "~" + hex.EncodeToString([]byte(s))
}

// safe reports whether every byte of s is in [A-Za-z0-9._-].
func safe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Stock is the key of one product's balances in every warehouse, the part
// of GET /v1/stock that product contributes: "v5:stock:{productNo}". Stock
// belongs to no customer.
func (Keys) Stock(productNo string) string {
	return version + ":stock:" + seg(productNo)
}
