package extendsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vendre-extend/gateway/erp"
)

// entry is one row of a list index: what the list answers, filters on and
// sorts by.
type entry struct {
	number   string
	date     string // OrderDate or InvoiceDate, YYYY-MM-DD
	changed  string // ChangedAt as sent
	changedT time.Time
	customer string
	external string // ExternalOrderNumber (orders only)
}

// index is a list of entries newest first (date, then number, descending),
// overall and per customer.
type index struct {
	all        []entry
	byCustomer map[string][]entry
}

func newIndex() *index { return &index{byCustomer: map[string][]entry{}} }

// newer orders entries newest first.
func newer(a, b entry) int {
	return cmp.Or(strings.Compare(b.date, a.date), compareNumbers(b.number, a.number))
}

// compareNumbers compares record numbers numerically when both are digits
// (leading zeros ignored), as text otherwise.
func compareNumbers(a, b string) int {
	if isDigits(a) && isDigits(b) {
		ta, tb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		return cmp.Or(cmp.Compare(len(ta), len(tb)), strings.Compare(ta, tb), strings.Compare(a, b))
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// put adds e; a caller replacing a record removes the old entry first.
func (x *index) put(e entry) {
	x.all = insertSorted(x.all, e)
	x.byCustomer[e.customer] = insertSorted(x.byCustomer[e.customer], e)
}

// remove takes number out of the index.
func (x *index) remove(number, customer string) {
	drop := func(s []entry) []entry {
		return slices.DeleteFunc(s, func(e entry) bool { return e.number == number })
	}
	x.all = drop(x.all)
	if s := drop(x.byCustomer[customer]); len(s) > 0 {
		x.byCustomer[customer] = s
	} else {
		delete(x.byCustomer, customer)
	}
}

func insertSorted(s []entry, e entry) []entry {
	i, _ := slices.BinarySearchFunc(s, e, newer)
	return slices.Insert(s, i, e)
}

// sortAll sorts every list after a bulk load.
func (x *index) sortAll() {
	slices.SortFunc(x.all, newer)
	for _, s := range x.byCustomer {
		slices.SortFunc(s, newer)
	}
}

// orderRec is a stored order. A record is never changed once stored (a
// change stores a new one), so its answer is encoded once, on first use.
type orderRec struct {
	o    erp.Order
	q    *quirks
	once sync.Once
	body []byte
}

func (r *orderRec) encoded() []byte {
	r.once.Do(func() { r.body = encode(&r.o, r.q) })
	return r.body
}

// invoiceRec is a stored invoice, encoded once like orderRec.
type invoiceRec struct {
	inv  erp.Invoice
	q    *quirks
	once sync.Once
	body []byte
}

func (r *invoiceRec) encoded() []byte {
	r.once.Do(func() { r.body = encode(&r.inv, r.q) })
	return r.body
}

func orderEntry(o *erp.Order) entry {
	return entry{number: o.OrderNumber, date: o.OrderDate, changed: o.ChangedAt, changedT: parseStamp(o.ChangedAt),
		customer: o.CustomerNumber, external: o.ExternalOrderNumber}
}

func invoiceEntry(inv *erp.Invoice) entry {
	return entry{number: inv.InvoiceNumber, date: inv.InvoiceDate, changed: inv.ChangedAt, changedT: parseStamp(inv.ChangedAt),
		customer: inv.CustomerNumber}
}

// parseStamp reads an RFC 3339 time; the zero time when it is not one.
func parseStamp(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// marshal encodes v as JSON without escaping <, > and &.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// encode marshals a record and applies its quirks.
func encode(v any, q *quirks) []byte {
	b, err := marshal(v)
	if err != nil {
		return []byte("{}") // the record types always marshal
	}
	if q == nil {
		return b
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return b
	}
	for _, p := range q.Null {
		edit(m, p, func(json.RawMessage) (json.RawMessage, bool) { return json.RawMessage("null"), true })
	}
	for _, p := range q.Absent {
		edit(m, p, func(json.RawMessage) (json.RawMessage, bool) { return nil, false })
	}
	for _, p := range q.Text {
		edit(m, p, func(raw json.RawMessage) (json.RawMessage, bool) {
			t, _ := marshal(groupThousands(string(raw)))
			return t, true
		})
	}
	for k, v := range q.Extra {
		m[k], _ = marshal(v)
	}
	if out, err := marshal(m); err == nil {
		return out
	}
	return b
}

// edit replaces the field at path ("A" or "A.B") with what f returns, or
// deletes it when f says false.
func edit(m map[string]json.RawMessage, path string, f func(json.RawMessage) (json.RawMessage, bool)) {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		if v, keep := f(m[head]); keep {
			m[head] = v
		} else {
			delete(m, head)
		}
		return
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(m[head], &inner); err != nil || inner == nil {
		return
	}
	edit(inner, rest, f)
	if b, err := marshal(inner); err == nil {
		m[head] = b
	}
}

// groupThousands writes a JSON number like -12345.60 as "-12 345.60".
func groupThousands(num string) string {
	sign, s := "", num
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

// cloneOrder copies o so that the copy shares no slices with it.
func cloneOrder(o erp.Order) erp.Order {
	o.VatLines = slices.Clone(o.VatLines)
	o.Rows = slices.Clone(o.Rows)
	o.Shipments = slices.Clone(o.Shipments)
	o.InvoiceNumbers = slices.Clone(o.InvoiceNumbers)
	return o
}

// cloneInvoice copies inv so that the copy shares no slices or pointers.
func cloneInvoice(inv erp.Invoice) erp.Invoice {
	inv.VatLines = slices.Clone(inv.VatLines)
	inv.Rows = slices.Clone(inv.Rows)
	inv.Shipments = slices.Clone(inv.Shipments)
	inv.OrderNumbers = slices.Clone(inv.OrderNumbers)
	if inv.RemainingAmount != nil {
		r := *inv.RemainingAmount
		inv.RemainingAmount = &r
	}
	return inv
}
