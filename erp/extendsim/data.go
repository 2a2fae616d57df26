package extendsim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/vendre-extend/gateway/erp"
)

// Fixed customers of the sample data.
const (
	// CustomerShowcase has about 30 orders over the last 14 months covering
	// every case the gateway must handle (see Cases).
	CustomerShowcase = "10001"
	// CustomerOther is a second customer with a few orders, so tests can
	// prove that one customer never sees another's data.
	CustomerOther = "10002"
	// CustomerLeadingZeros has a number with leading zeros; "42" is not it.
	CustomerLeadingZeros = "00042"
)

// Cases names the records of CustomerShowcase that show one case each, so
// tests and demos can find them. Fields ending in Order are order numbers,
// the others invoice numbers.
type Cases struct {
	RegisteredOrder string // Status Registered; Shipments present but empty
	ReservedOrder   string // Status Reserved
	PickedOrder     string // Status Picked, partly delivered
	DeliveredOrder  string // Status Delivered, one https shipment, invoiced
	CancelledOrder  string // Status Cancelled, not invoiced
	// PartialOrder has a row with DeliveredQuantity < Quantity and
	// BackorderQuantity > 0.
	PartialOrder       string
	NoShipmentsOrder   string // Shipments: []
	OneShipmentOrder   string
	ManyShipmentsOrder string // three shipments with two carriers
	HTTPTrackingOrder  string // one shipment whose TrackingUrl is http://
	AbroadOrder        string // delivered to Norway (NO)
	MultiVATOrder      string // rows at 25, 12, 6 and 0 %
	DiscountOrder      string // rows with DiscountAmount
	// SparseOrder sends null for some text fields and leaves out
	// PurchaseOrderNumber, OurReference, Shipments and InvoiceNumbers.
	SparseOrder string
	// TextAmountOrder sends TotalExclVat and TotalInclVat as text with a
	// space thousands separator ("12 345.60").
	TextAmountOrder string
	TwoOrdersA      string // billed with TwoOrdersB on TwoOrdersInvoice
	TwoOrdersB      string

	PaidInvoice          string // RemainingAmount 0
	UnpaidInvoice        string // not yet due
	OverdueInvoice       string // DueDate 20 days ago, nothing paid
	PartlyPaidInvoice    string // not yet due, PaidAmount > 0, RemainingAmount > 0
	CreditNote           string // IsCredit, negative amounts
	CreditedInvoice      string // the invoice CreditNote credits
	TwoOrdersInvoice     string // bills TwoOrdersA and TwoOrdersB
	MultiVATInvoice      string
	SparseInvoice        string // like SparseOrder
	TextAmountInvoice    string // like TextAmountOrder
	ManyShipmentsInvoice string // the invoice of ManyShipmentsOrder
}

// customer is a customer's master data.
type customer struct {
	Number    string
	Name      string
	Reference string
	Invoice   erp.Address   // Type "Invoice"
	Delivery  []erp.Address // Type "Delivery"; the first is the default
	Discount  int64         // percent off the list price
	People    []string      // who orders (YourReference)
}

// printed is the customer as printed on orders and invoices.
func (c *customer) printed() erp.Customer {
	return erp.Customer{
		CustomerNumber: c.Number, Name: c.Name, Reference: c.Reference,
		Address1: c.Invoice.Address1, Address2: c.Invoice.Address2,
		ZipCode: c.Invoice.ZipCode, City: c.Invoice.City, CountryCode: c.Invoice.CountryCode,
	}
}

// netPrice is the customer's price of p excl. VAT.
func (c *customer) netPrice(p product) erp.Amount {
	return erp.Amount((int64(p.Price)*(100-c.Discount) + 50) / 100)
}

// quirks changes how one record is encoded, to exercise tolerant decoders.
// Paths may reach one level into an object ("Customer.Address2").
type quirks struct {
	Null   []string          // sent as null
	Absent []string          // left out
	Text   []string          // amounts sent as text with space separators
	Extra  map[string]string // fields the model does not know
}

type payState int

const (
	payPaid payState = iota
	payUnpaid
	payPartly
)

// draftOrder is an order before numbers and amounts are final.
type draftOrder struct {
	seq      int
	o        erp.Order
	cust     *customer
	date     time.Time
	invoices []*draftInvoice
	q        *quirks
}

// draftInvoice is an invoice before numbers and amounts are final.
type draftInvoice struct {
	seq     int
	inv     erp.Invoice
	date    time.Time
	due     time.Time
	orders  []*draftOrder
	credits *draftInvoice // the invoice a credit note credits
	rows    []erp.Row     // credit notes only; others bill their orders' rows
	pay     payState
	q       *quirks
}

// line is one wanted order row.
type line struct {
	product   string
	qty       int
	delivered int // -1: as the status implies
	discount  erp.Amount
}

func ln(p string, qty int) line { return line{product: p, qty: qty, delivered: -1} }

// generator builds the deterministic sample data.
type generator struct {
	rng      *rand.Rand
	now      time.Time
	today    time.Time // midnight UTC
	products map[string]product
	orders   []*draftOrder
	invoices []*draftInvoice
	cases    Cases
	pending  []pendingCase
}

// pendingCase fills a field of Cases once the record has its number.
type pendingCase struct {
	dst *string
	o   *draftOrder
	inv *draftInvoice
}

// dataset is generated sample data, ready for the store.
type dataset struct {
	customers   []*customer
	orders      []erp.Order
	invoices    []erp.Invoice
	quirks      map[string]*quirks // by order or invoice number
	cases       Cases
	nextOrder   int
	nextInvoice int
}

// generate builds the sample data for a seed, with dates relative to now.
func generate(seed int64, now time.Time, extra int) *dataset {
	now = now.UTC()
	g := &generator{
		rng:      rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)), // #nosec G115 G404 -- deterministic sample data from a seed, not security
		now:      now,
		today:    time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC),
		products: make(map[string]product, len(catalogue)),
	}
	for _, p := range catalogue {
		g.products[p.Number] = p
	}
	showcase := showcaseCustomer()
	other := &customer{
		Number: CustomerOther, Name: "Mälardalens Elteknik AB", Reference: "Karin Ek",
		Invoice:  erp.Address{Type: "Invoice", Name: "Mälardalens Elteknik AB", Address1: "Kopparbergsvägen 8", ZipCode: "722 13", City: "Västerås", CountryCode: "SE"},
		Delivery: []erp.Address{{Type: "Delivery", Name: "Mälardalens Elteknik AB", Reference: "Lagret", Address1: "Kopparbergsvägen 8", ZipCode: "722 13", City: "Västerås", CountryCode: "SE"}},
		Discount: 5, People: []string{"Karin Ek", "Jonas Berg"},
	}
	zeros := &customer{
		Number: CustomerLeadingZeros, Name: "Fjällbygg i Åre AB", Reference: "Lars Persson",
		Invoice:  erp.Address{Type: "Invoice", Name: "Fjällbygg i Åre AB", Address1: "Årevägen 41", ZipCode: "837 52", City: "Åre", CountryCode: "SE"},
		Delivery: []erp.Address{{Type: "Delivery", Name: "Fjällbygg i Åre AB", Address1: "Årevägen 41", ZipCode: "837 52", City: "Åre", CountryCode: "SE"}},
		Discount: 8, People: []string{"Lars Persson"},
	}
	customers := []*customer{showcase, other, zeros}
	g.showcase(showcase)
	g.generic(other, 5, 20, 400)
	g.generic(zeros, 4, 10, 300)
	for i := 1; i <= extra; i++ {
		c := g.customer(fmt.Sprintf("2%04d", i))
		customers = append(customers, c)
		g.generic(c, 2+g.rng.IntN(5), 1, 425)
	}
	return g.finish(customers)
}

// showcaseCustomer is customer 10001 with an invoice address, the default
// delivery address, a job site and a site in Norway.
func showcaseCustomer() *customer {
	const name = "Byggservice Norrland AB"
	return &customer{
		Number: CustomerShowcase, Name: name, Reference: "Lena Forsberg",
		Invoice: erp.Address{Type: "Invoice", Name: name, Reference: "Ekonomiavdelningen",
			Address1: "Box 512", ZipCode: "851 21", City: "Sundsvall", CountryCode: "SE"},
		Delivery: []erp.Address{
			{Type: "Delivery", Name: name, Reference: "Godsmottagningen", Address1: "Verkstadsgatan 4",
				ZipCode: "852 39", City: "Sundsvall", CountryCode: "SE"},
			{Type: "Delivery", Name: name + ", Projekt Birsta", Reference: "Platschef Mikael Nyström",
				Address1: "Birstavägen 10", Address2: "Bygget vid infarten", ZipCode: "862 33", City: "Kvissleby", CountryCode: "SE"},
			{Type: "Delivery", Name: name + ", filial Norge", Reference: "Ola Hansen",
				Address1: "Strandveien 21", ZipCode: "9006", City: "Tromsø", CountryCode: "NO"},
		},
		Discount: 12,
		People:   []string{"Lena Forsberg", "Mikael Nyström", "Peter Åberg"},
	}
}

// customer makes up a customer with number n.
func (g *generator) customer(n string) *customer {
	city := pick(g.rng, cities)
	trade := pick(g.rng, trades)
	var name string
	if g.rng.IntN(2) == 0 {
		name = city.Name + " " + trade + " AB"
	} else {
		name = strings.TrimSuffix(pick(g.rng, lastNames), "s") + "s " + trade + " AB"
	}
	person := pick(g.rng, firstNames) + " " + pick(g.rng, lastNames)
	addr := erp.Address{Name: name, Address1: fmt.Sprintf("%s %d", pick(g.rng, streets), 1+g.rng.IntN(60)),
		ZipCode: fmt.Sprintf("%s %02d", city.Zip, g.rng.IntN(100)), City: city.Name, CountryCode: "SE"}
	inv, del := addr, addr
	inv.Type, del.Type = "Invoice", "Delivery"
	return &customer{Number: n, Name: name, Reference: person, Invoice: inv, Delivery: []erp.Address{del},
		Discount: int64(g.rng.IntN(16)), People: []string{person, pick(g.rng, firstNames) + " " + pick(g.rng, lastNames)}}
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func (g *generator) day(daysAgo int) time.Time { return g.today.AddDate(0, 0, -daysAgo) }

// order adds an order of c placed daysAgo with the given rows. Picked and
// Delivered orders get one shipment; amounts are computed in finish.
func (g *generator) order(c *customer, daysAgo int, status string, lines ...line) *draftOrder {
	d := &draftOrder{seq: len(g.orders), cust: c, date: g.day(daysAgo)}
	o := &d.o
	o.CustomerNumber = c.Number
	o.OrderDate = d.date.Format(time.DateOnly)
	o.Status = status
	o.Currency = "SEK"
	o.Customer = c.printed()
	o.DeliveryAddress = c.Delivery[0]
	o.DeliveryAddress.Type = ""
	o.YourReference = pick(g.rng, c.People)
	o.OurReference = pick(g.rng, sellers)
	if g.rng.IntN(2) == 0 {
		o.PurchaseOrderNumber = fmt.Sprintf("IO-%d-%03d", d.date.Year(), 1+g.rng.IntN(400))
	}
	if g.rng.IntN(4) == 0 {
		o.Comment = pick(g.rng, comments)
	}
	if g.rng.IntN(5) < 2 {
		o.ExternalOrderNumber = fmt.Sprintf("W%06d", 10000+g.rng.IntN(90000))
	}
	var goods int64
	for i, l := range lines {
		p := g.products[l.product] // the lines above name catalogue articles only
		delivered := 0
		if status == erp.StatusPicked || status == erp.StatusDelivered {
			delivered = l.qty
		}
		if l.delivered >= 0 {
			delivered = l.delivered
		}
		backorder := 0
		if delivered > 0 && delivered < l.qty {
			backorder = l.qty - delivered
		}
		price := c.netPrice(p)
		o.Rows = append(o.Rows, erp.Row{RowNumber: (i + 1) * 10, ProductNumber: p.Number, Description: p.Name,
			Quantity: erp.Number(l.qty), DeliveredQuantity: erp.Number(delivered), BackorderQuantity: erp.Number(backorder),
			UnitPrice: price, DiscountAmount: l.discount})
		goods += int64(l.qty)*int64(price) - int64(l.discount)
	}
	if goods < 1000000 { // free shipping from 10 000 kr
		o.ShippingCost = 19500
	}
	o.Shipments = []erp.Shipment{}
	if status == erp.StatusPicked || status == erp.StatusDelivered {
		g.ship(d, pick(g.rng, carriers))
	}
	g.orders = append(g.orders, d)
	return d
}

// ship adds a shipment by cr to d.
func (g *generator) ship(d *draftOrder, cr carrier) {
	var b strings.Builder
	b.WriteString(cr.Prefix)
	for range cr.Digits {
		b.WriteByte(byte('0' + g.rng.IntN(10))) // #nosec G115 -- IntN(10) is 0..9
	}
	d.o.Shipments = append(d.o.Shipments, erp.Shipment{Carrier: cr.Name, TrackingNumber: b.String(),
		TrackingURL: fmt.Sprintf(cr.URL, b.String())})
}

// invoice bills orders on the day daysAgo, due 30 days later.
func (g *generator) invoice(daysAgo int, pay payState, orders ...*draftOrder) *draftInvoice {
	d := &draftInvoice{seq: len(g.invoices), date: g.day(daysAgo), pay: pay, orders: orders}
	d.due = d.date.AddDate(0, 0, 30)
	for _, o := range orders {
		o.invoices = append(o.invoices, d)
	}
	g.invoices = append(g.invoices, d)
	return d
}

// autoInvoice bills a delivered order three days after its date; it is paid
// when due before today (overdue once in a while when allowOverdue), and
// unpaid (paid early once in a while) otherwise.
func (g *generator) autoInvoice(o *draftOrder, allowOverdue bool) *draftInvoice {
	daysAgo := int(g.today.Sub(o.date).Hours()/24) - 3
	daysAgo = max(daysAgo, 1)
	pay := payPaid
	if daysAgo-30 < 3 { // due within three days or later
		if g.rng.IntN(4) != 0 {
			pay = payUnpaid
		}
	} else if allowOverdue && g.rng.IntN(8) == 0 {
		pay = payUnpaid
	}
	return g.invoice(daysAgo, pay, o)
}

// randomLines picks 1 to 6 articles with quantities and now and then a
// discount.
func (g *generator) randomLines(c *customer) []line {
	n := 1 + g.rng.IntN(6)
	idx := g.rng.Perm(len(catalogue) - 4)[:n] // the 25 % articles
	lines := make([]line, 0, n)
	for _, i := range idx {
		p := catalogue[i]
		qty := 1 + g.rng.IntN(6)
		if p.Price < 20000 {
			qty *= 1 + g.rng.IntN(5)
		}
		l := ln(p.Number, qty)
		if g.rng.IntN(7) == 0 {
			l.discount = erp.Amount((int64(qty)*int64(c.netPrice(p))/10 + 50) / 100 * 100) // 10 %, whole kronor
		}
		lines = append(lines, l)
	}
	return lines
}

// generic adds n ordinary orders of c between minDays and maxDays ago:
// recent ones still open, older ones delivered and invoiced, one in
// fifteen cancelled.
func (g *generator) generic(c *customer, n, minDays, maxDays int) {
	for range n {
		daysAgo := minDays + g.rng.IntN(maxDays-minDays+1)
		status := erp.StatusDelivered
		switch {
		case daysAgo <= 3:
			status = pick(g.rng, []string{erp.StatusRegistered, erp.StatusReserved, erp.StatusPicked})
		case g.rng.IntN(15) == 0:
			status = erp.StatusCancelled
		}
		o := g.order(c, daysAgo, status, g.randomLines(c)...)
		if status == erp.StatusDelivered {
			g.autoInvoice(o, c.Number != CustomerShowcase)
		}
	}
}

// showcase adds the orders and invoices of customer 10001: one record per
// case, then ordinary history back to 14 months ago.
func (g *generator) showcase(c *customer) {
	set := func(dst *string, o *draftOrder) { g.pending = append(g.pending, pendingCase{dst: dst, o: o}) }
	setInv := func(dst *string, inv *draftInvoice) { g.pending = append(g.pending, pendingCase{dst: dst, inv: inv}) }
	cs := &g.cases

	o := g.order(c, 1, erp.StatusRegistered, ln("VE-6101", 1), ln("HV-7104", 2), ln("VE-6106", 2))
	o.o.ExternalOrderNumber = "W104522"
	set(&cs.RegisteredOrder, o)
	set(&cs.NoShipmentsOrder, o)

	o = g.order(c, 3, erp.StatusReserved, ln("AB-2101", 4), ln("AB-2120", 2),
		line{product: "HA-4101", qty: 5, delivered: -1, discount: 10000})
	set(&cs.ReservedOrder, o)

	o = g.order(c, 5, erp.StatusPicked, line{product: "SK-3102", qty: 6, delivered: 4},
		ln("PS-5103", 6), ln("HA-4103", 10))
	o.o.DeliveryAddress = c.Delivery[1]
	o.o.DeliveryAddress.Type = ""
	set(&cs.PickedOrder, o)
	set(&cs.PartialOrder, o)

	o = g.order(c, 9, erp.StatusDelivered, ln("AB-2110", 3), ln("HV-7101", 2), ln("HV-7103", 1))
	o.o.Shipments = nil
	g.ship(o, carriers[0])
	set(&cs.DeliveredOrder, o)
	set(&cs.OneShipmentOrder, o)
	setInv(&cs.UnpaidInvoice, g.invoice(7, payUnpaid, o))

	o = g.order(c, 12, erp.StatusDelivered, ln("HV-1102", 6), ln("HV-1101", 6), ln("PS-5102", 6))
	o.o.DeliveryAddress = c.Delivery[2]
	o.o.DeliveryAddress.Type = ""
	o.o.Shipments = nil
	g.ship(o, carriers[3])
	o.o.Comment = "Tullfaktura medföljer."
	set(&cs.AbroadOrder, o)
	g.invoice(10, payUnpaid, o)

	o = g.order(c, 20, erp.StatusDelivered, line{product: "VE-6104", qty: 2, delivered: -1, discount: 50000},
		ln("VE-6106", 4), line{product: "HV-7106", qty: 3, delivered: -1, discount: 3900})
	set(&cs.DiscountOrder, o)
	setInv(&cs.PartlyPaidInvoice, g.invoice(17, payPartly, o))

	o = g.order(c, 27, erp.StatusDelivered, ln("VE-6101", 3), ln("VE-6102", 3), ln("VE-6106", 6), ln("AR-9201", 2))
	o.q = &quirks{Text: []string{"TotalExclVat", "TotalInclVat"}}
	set(&cs.TextAmountOrder, o)
	inv := g.invoice(24, payPaid, o)
	inv.q = &quirks{Text: []string{"TotalExclVat", "TotalInclVat", "PaidAmount"}}
	setInv(&cs.TextAmountInvoice, inv)

	o = g.order(c, 34, erp.StatusDelivered, line{product: "AB-2130", qty: 5, delivered: -1, discount: 19800},
		ln("LI-9301", 10), ln("LI-9302", 2), ln("LI-9401", 2), ln("PK-0500", 4))
	o.o.Comment = "Presentkorten till personalfesten."
	o.q = &quirks{Extra: map[string]string{"DeliveryTerms": "Fritt vårt lager", "SalesChannel": "Telefon"}}
	set(&cs.MultiVATOrder, o)
	inv = g.invoice(31, payPaid, o)
	inv.q = &quirks{Extra: map[string]string{"PaymentTerms": "30 dagar netto", "Ocr": "5001234567"}}
	setInv(&cs.MultiVATInvoice, inv)

	o = g.order(c, 41, erp.StatusDelivered, ln("FA-8101", 20), ln("FA-8102", 10), ln("FA-8103", 10),
		ln("FA-8104", 8), ln("KE-9101", 24), ln("KE-9102", 24), ln("AR-9202", 4))
	o.o.Shipments = nil
	g.ship(o, carriers[0])
	g.ship(o, carriers[0])
	g.ship(o, carriers[1])
	set(&cs.ManyShipmentsOrder, o)
	setInv(&cs.ManyShipmentsInvoice, g.invoice(38, payPaid, o))

	o = g.order(c, 55, erp.StatusDelivered, ln("SK-3101", 4), ln("HA-4102", 10), ln("PS-5101", 10))
	setInv(&cs.OverdueInvoice, g.invoice(50, payUnpaid, o))

	o = g.order(c, 62, erp.StatusDelivered, ln("VE-6103", 1), ln("HV-7106", 2), ln("HV-7105", 5))
	o.o.Shipments = nil
	g.ship(o, localCourier)
	set(&cs.HTTPTrackingOrder, o)
	setInv(&cs.PaidInvoice, g.invoice(59, payPaid, o))

	a := g.order(c, 75, erp.StatusDelivered, ln("AB-2102", 6), ln("AB-2120", 6))
	b := g.order(c, 75, erp.StatusDelivered, ln("PS-5104", 5), ln("HA-4101", 10))
	b.o.DeliveryAddress = c.Delivery[1]
	b.o.DeliveryAddress.Type = ""
	set(&cs.TwoOrdersA, a)
	set(&cs.TwoOrdersB, b)
	setInv(&cs.TwoOrdersInvoice, g.invoice(72, payPaid, a, b))

	o = g.order(c, 90, erp.StatusDelivered, ln("HV-1102", 10), ln("HV-1101", 10))
	credited := g.invoice(87, payPaid, o)
	credit := g.invoice(80, payPaid, o)
	credit.credits = credited
	credit.rows = []erp.Row{{RowNumber: 10, ProductNumber: "HV-1102", Description: "Retur: fel storlek, " + g.products["HV-1102"].Name,
		Quantity: -2, UnitPrice: c.netPrice(g.products["HV-1102"])}}
	setInv(&cs.CreditedInvoice, credited)
	setInv(&cs.CreditNote, credit)

	o = g.order(c, 100, erp.StatusCancelled, ln("VE-6105", 2), ln("HV-7104", 1))
	o.o.Comment = "Makulerad på kundens begäran."
	set(&cs.CancelledOrder, o)

	o = g.order(c, 120, erp.StatusDelivered, ln("AB-2110", 2), ln("PS-5103", 2))
	o.o.Shipments = nil
	o.q = &quirks{
		Null:   []string{"YourReference", "Comment", "ExternalOrderNumber", "Customer.Address2", "DeliveryAddress.Reference", "DeliveryAddress.Address2"},
		Absent: []string{"PurchaseOrderNumber", "OurReference", "Shipments", "InvoiceNumbers"},
	}
	set(&cs.SparseOrder, o)
	inv = g.invoice(117, payPaid, o)
	inv.q = &quirks{
		Null:   []string{"YourReference", "Comment", "CreditedInvoiceNumber", "Customer.Address2", "DeliveryAddress.Reference"},
		Absent: []string{"PurchaseOrderNumber", "OurReference", "Shipments"},
	}
	setInv(&cs.SparseInvoice, inv)

	for i := range 14 { // ordinary history, 130 to 425 days ago
		daysAgo := 130 + i*21 + g.rng.IntN(15)
		o := g.order(c, daysAgo, erp.StatusDelivered, g.randomLines(c)...)
		g.autoInvoice(o, false)
	}
}

// finish numbers the records in date order, links orders and invoices,
// computes every amount and ChangedAt, and fills Cases.
func (g *generator) finish(customers []*customer) *dataset {
	slices.SortStableFunc(g.orders, func(a, b *draftOrder) int {
		return cmp.Or(a.date.Compare(b.date), cmp.Compare(a.seq, b.seq))
	})
	slices.SortStableFunc(g.invoices, func(a, b *draftInvoice) int {
		return cmp.Or(a.date.Compare(b.date), cmp.Compare(a.seq, b.seq))
	})
	const firstOrder, firstInvoice = 100101, 500101
	for i, d := range g.orders {
		d.o.OrderNumber = fmt.Sprint(firstOrder + i)
		for j := range d.o.Shipments {
			d.o.Shipments[j].ShipmentNumber = fmt.Sprintf("%s-%d", d.o.OrderNumber, j+1)
		}
		d.o.InvoiceNumbers = []string{}
		computeTotals(&d.o.TotalExclVat, &d.o.TotalVat, &d.o.TotalInclVat, &d.o.VatLines, d.o.Rows, d.o.ShippingCost, g.vatRate)
	}
	ds := &dataset{customers: customers, quirks: map[string]*quirks{},
		nextOrder: firstOrder + len(g.orders), nextInvoice: firstInvoice + len(g.invoices)}
	for i, d := range g.invoices {
		d.inv.InvoiceNumber = fmt.Sprint(firstInvoice + i)
	}
	for _, d := range g.invoices {
		g.finishInvoice(d)
		ds.invoices = append(ds.invoices, d.inv)
		if d.q != nil {
			ds.quirks[d.inv.InvoiceNumber] = d.q
		}
	}
	for _, d := range g.orders {
		changed := d.date.Add(time.Duration(8*60+g.rng.IntN(480)) * time.Minute)
		switch d.o.Status {
		case erp.StatusReserved, erp.StatusCancelled:
			changed = changed.AddDate(0, 0, 1)
		case erp.StatusPicked:
			changed = changed.AddDate(0, 0, 2)
		case erp.StatusDelivered:
			changed = changed.AddDate(0, 0, 3)
		}
		for _, inv := range d.invoices {
			d.o.InvoiceNumbers = append(d.o.InvoiceNumbers, inv.inv.InvoiceNumber)
			changed = later(changed, inv.date.Add(7*time.Hour))
		}
		d.o.ChangedAt = g.stamp(changed)
		ds.orders = append(ds.orders, d.o)
		if d.q != nil {
			ds.quirks[d.o.OrderNumber] = d.q
		}
	}
	for _, p := range g.pending {
		if p.o != nil {
			*p.dst = p.o.o.OrderNumber
		} else {
			*p.dst = p.inv.inv.InvoiceNumber
		}
	}
	ds.cases = g.cases
	return ds
}

// finishInvoice fills d.inv from its orders, its rows and its payment.
func (g *generator) finishInvoice(d *draftInvoice) {
	first := &d.orders[0].o
	inv := &d.inv
	inv.InvoiceDate = d.date.Format(time.DateOnly)
	inv.DueDate = d.due.Format(time.DateOnly)
	inv.CustomerNumber = first.CustomerNumber
	inv.YourReference, inv.OurReference = first.YourReference, first.OurReference
	inv.PurchaseOrderNumber, inv.Currency = first.PurchaseOrderNumber, first.Currency
	inv.Customer, inv.DeliveryAddress = first.Customer, first.DeliveryAddress
	inv.Shipments = []erp.Shipment{}
	for _, o := range d.orders {
		inv.OrderNumbers = append(inv.OrderNumbers, o.o.OrderNumber)
	}
	if d.credits != nil {
		inv.IsCredit = true
		inv.CreditedInvoiceNumber = d.credits.inv.InvoiceNumber
		inv.Comment = "Kreditering av faktura " + inv.CreditedInvoiceNumber
		inv.DueDate = inv.InvoiceDate
		inv.Rows = slices.Clone(d.rows)
	} else {
		for _, o := range d.orders {
			inv.ShippingCost += o.o.ShippingCost
			inv.Shipments = append(inv.Shipments, o.o.Shipments...)
			for _, r := range o.o.Rows {
				if r.DeliveredQuantity == 0 {
					continue
				}
				r.RowNumber = (len(inv.Rows) + 1) * 10
				inv.Rows = append(inv.Rows, r)
			}
		}
	}
	computeTotals(&inv.TotalExclVat, &inv.TotalVat, &inv.TotalInclVat, &inv.VatLines, inv.Rows, inv.ShippingCost, g.vatRate)

	changed := d.date.Add(time.Duration(6*60+g.rng.IntN(120)) * time.Minute)
	remaining := inv.TotalInclVat
	switch {
	case inv.IsCredit: // settled against the credited invoice
		inv.PaidAmount, remaining = inv.TotalInclVat, 0
	case d.pay == payPaid:
		paidOn := d.due.AddDate(0, 0, -g.rng.IntN(8))
		paidOn = earlier(paidOn, g.today.AddDate(0, 0, -1))
		paidOn = later(paidOn, d.date)
		inv.PaidAmount, remaining = inv.TotalInclVat, 0
		changed = later(changed, paidOn.Add(10*time.Hour))
	case d.pay == payPartly:
		inv.PaidAmount = inv.TotalInclVat / 2 / 10000 * 10000 // whole hundreds of kronor
		remaining = inv.TotalInclVat - inv.PaidAmount
		changed = later(changed, earlier(d.date.AddDate(0, 0, 5), g.today.AddDate(0, 0, -1)).Add(10*time.Hour))
	}
	inv.RemainingAmount = &remaining
	inv.ChangedAt = g.stamp(changed)
}

// stamp formats t as ChangedAt, never later than ten minutes ago.
func (g *generator) stamp(t time.Time) string {
	return earlier(t, g.now.Add(-10*time.Minute)).UTC().Format(time.RFC3339)
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// vatRate is the VAT rate in percent of a catalogue article.
func (g *generator) vatRate(productNumber string) int {
	if p, ok := g.products[productNumber]; ok {
		return p.VAT
	}
	return 25
}

// computeTotals sets each RowTotal and the totals: goods plus shipping excl.
// VAT, VAT per rate (shipping at 25 %), rounded to öre half away from zero.
func computeTotals(excl, vat, incl *erp.Amount, lines *[]erp.VatLine, rows []erp.Row, shipping erp.Amount, rateOf func(productNumber string) int) {
	base := map[int]int64{}
	var sum int64
	for i := range rows {
		r := &rows[i]
		r.RowTotal = erp.Amount(math.Round(float64(r.Quantity)*float64(r.UnitPrice))) - r.DiscountAmount
		base[rateOf(r.ProductNumber)] += int64(r.RowTotal)
		sum += int64(r.RowTotal)
	}
	if shipping != 0 {
		base[25] += int64(shipping)
	}
	rates := make([]int, 0, len(base))
	for r := range base {
		rates = append(rates, r)
	}
	slices.Sort(rates)
	slices.Reverse(rates)
	*lines = make([]erp.VatLine, 0, len(rates))
	var total int64
	for _, r := range rates {
		v := roundDiv(base[r]*int64(r), 100)
		total += v
		*lines = append(*lines, erp.VatLine{Rate: erp.Number(r), Amount: erp.Amount(v)})
	}
	*excl = erp.Amount(sum) + shipping
	*vat = erp.Amount(total)
	*incl = *excl + *vat
}

// roundDiv is a/b rounded half away from zero, for b > 0.
func roundDiv(a, b int64) int64 {
	if a < 0 {
		return -((-a + b/2) / b)
	}
	return (a + b/2) / b
}
