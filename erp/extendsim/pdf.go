package extendsim

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/vendre-extend/gateway/erp"
)

// invoicePDF renders inv as a one-page A4 PDF 1.4 with the standard
// Helvetica fonts: a small but valid file (exact xref offsets) that names
// the invoice, the customer, the rows and the totals.
func invoicePDF(inv *erp.Invoice) []byte {
	var c pdfText
	title, docTitle := "FAKTURA", "Faktura "+inv.InvoiceNumber
	if inv.IsCredit {
		title, docTitle = "KREDITFAKTURA", "Kreditfaktura "+inv.InvoiceNumber
	}
	c.text(fontBold, 18, 50, 790, Merchant)
	c.text(fontRegular, 9, 50, 776, "Verkstadsvägen 1, 856 50 Sundsvall · Org.nr 556000-1234 · Momsreg.nr SE556000123401")
	c.text(fontBold, 16, 360, 740, title)
	meta := [][2]string{
		{"Fakturanummer", inv.InvoiceNumber}, {"Fakturadatum", inv.InvoiceDate},
		{"Förfallodatum", inv.DueDate}, {"Kundnummer", inv.CustomerNumber},
	}
	if inv.IsCredit && inv.CreditedInvoiceNumber != "" {
		meta = append(meta, [2]string{"Krediterar faktura", inv.CreditedInvoiceNumber})
	}
	for i, m := range meta {
		c.text(fontRegular, 10, 360, 722-float64(i)*14, m[0]+":")
		c.text(fontBold, 10, 460, 722-float64(i)*14, m[1])
	}

	cu := inv.Customer
	y := 740.0
	for _, s := range []string{cu.Name, attention(cu.Reference), cu.Address1, cu.Address2,
		strings.TrimSpace(cu.ZipCode + " " + cu.City), foreign(cu.CountryCode)} {
		if s != "" {
			c.text(fontRegular, 10, 50, y, s)
			y -= 13
		}
	}

	y = 640
	refs := [][2]string{{"Er referens", inv.YourReference}, {"Vår referens", inv.OurReference},
		{"Ert ordernummer", inv.PurchaseOrderNumber}, {"Ordrar", strings.Join(inv.OrderNumbers, ", ")}}
	for _, r := range refs {
		if r[1] != "" {
			c.text(fontRegular, 9, 50, y, r[0]+": "+r[1])
			y -= 12
		}
	}
	if d := inv.DeliveryAddress; d.Address1 != "" {
		c.text(fontRegular, 9, 360, 640, "Leveransadress:")
		for i, s := range []string{d.Name, d.Address1, strings.TrimSpace(d.ZipCode+" "+d.City) + foreignSuffix(d.CountryCode)} {
			c.text(fontRegular, 9, 360, 628-float64(i)*12, s)
		}
	}

	y = 575
	c.text(fontBold, 9, 50, y, "Art.nr")
	c.text(fontBold, 9, 110, y, "Benämning")
	c.right(fontBold, 9, 390, y, "Antal")
	c.right(fontBold, 9, 450, y, "À-pris")
	c.right(fontBold, 9, 500, y, "Rabatt")
	c.right(fontBold, 9, 545, y, "Summa")
	c.line(50, y-4, 545, y-4)
	y -= 18
	for i, r := range inv.Rows {
		if y < 215 {
			c.text(fontRegular, 9, 110, y, fmt.Sprintf("… och %d rader till", len(inv.Rows)-i))
			break
		}
		c.text(fontRegular, 9, 50, y, r.ProductNumber)
		c.text(fontRegular, 9, 110, y, clip(r.Description, 48))
		c.right(fontRegular, 9, 390, y, formatQty(float64(r.Quantity)))
		c.right(fontRegular, 9, 450, y, formatMoney(r.UnitPrice))
		if r.DiscountAmount != 0 {
			c.right(fontRegular, 9, 500, y, formatMoney(r.DiscountAmount))
		}
		c.right(fontRegular, 9, 545, y, formatMoney(r.RowTotal))
		y -= 13
	}

	y = 190
	c.line(330, y+14, 545, y+14)
	totals := [][2]string{{"Varav frakt", formatMoney(inv.ShippingCost)}, {"Summa exkl. moms", formatMoney(inv.TotalExclVat)}}
	for _, v := range inv.VatLines {
		totals = append(totals, [2]string{"Moms " + formatQty(float64(v.Rate)) + " %", formatMoney(v.Amount)})
	}
	if inv.PaidAmount != 0 && !inv.IsCredit {
		totals = append(totals, [2]string{"Betalt", formatMoney(inv.PaidAmount)})
	}
	for _, t := range totals {
		c.text(fontRegular, 10, 340, y, t[0])
		c.right(fontRegular, 10, 545, y, t[1]+" "+inv.Currency)
		y -= 14
	}
	due := inv.TotalInclVat
	if inv.RemainingAmount != nil && !inv.IsCredit {
		due = *inv.RemainingAmount
	}
	c.text(fontBold, 11, 340, y-4, "Att betala")
	c.right(fontBold, 11, 545, y-4, formatMoney(due)+" "+inv.Currency)

	c.line(50, 70, 545, 70)
	c.text(fontRegular, 8, 50, 58, "Bankgiro 5555-1234 · Betalningsvillkor 30 dagar netto · Dröjsmålsränta enligt räntelagen")
	c.text(fontRegular, 8, 50, 48, "Ange fakturanummer "+inv.InvoiceNumber+" vid betalning.")

	return assemblePDF(c.b.Bytes(), docTitle+", "+inv.Customer.Name)
}

func attention(ref string) string {
	if ref == "" {
		return ""
	}
	return "Att: " + ref
}

func foreign(cc string) string {
	if cc == "" || cc == "SE" {
		return ""
	}
	return cc
}

func foreignSuffix(cc string) string {
	if f := foreign(cc); f != "" {
		return ", " + f
	}
	return ""
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// formatMoney writes a in Swedish style: "-1 234,50".
func formatMoney(a erp.Amount) string {
	v := int64(a)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return sign + groupThousands(strconv.FormatInt(v/100, 10)) + fmt.Sprintf(",%02d", v%100)
}

// formatQty writes a quantity with a decimal comma and no trailing zeros.
func formatQty(q float64) string {
	return strings.Replace(strconv.FormatFloat(q, 'f', -1, 64), ".", ",", 1)
}

const (
	fontRegular = "F1"
	fontBold    = "F2"
)

// pdfText collects a page's content stream.
type pdfText struct{ b bytes.Buffer }

// text writes s at (x, y) in points from the bottom left.
func (c *pdfText) text(font string, size, x, y float64, s string) {
	fmt.Fprintf(&c.b, "BT /%s %g Tf %g %g Td (%s) Tj ET\n", font, size, x, y, pdfString(s))
}

// right writes s ending at x.
func (c *pdfText) right(font string, size, x, y float64, s string) {
	c.text(font, size, x-textWidth(s, size), y, s)
}

// line draws a thin horizontal or any straight line.
func (c *pdfText) line(x1, y1, x2, y2 float64) {
	fmt.Fprintf(&c.b, "0.5 w %g %g m %g %g l S\n", x1, y1, x2, y2)
}

// textWidth approximates the width of s in Helvetica: exact for digits,
// spaces and punctuation, the average for letters.
func textWidth(s string, size float64) float64 {
	var w int
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			w += 556
		case r == ' ' || r == ',' || r == '.':
			w += 278
		case r == '-':
			w += 333
		default:
			w += 540
		}
	}
	return float64(w) * size / 1000
}

// pdfString encodes s as the inside of a PDF literal string in
// WinAnsiEncoding; characters it cannot show become '?'.
func pdfString(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteByte(byte(r))
		case r >= 0x20 && r < 0x7f:
			b.WriteByte(byte(r))
		case r >= 0xa0 && r <= 0xff:
			fmt.Fprintf(&b, "\\%03o", r)
		case r == '…':
			b.WriteString(`\205`)
		case r == '–':
			b.WriteString(`\226`)
		case r == '€':
			b.WriteString(`\200`)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// assemblePDF wraps one page's content stream in a complete file: catalog,
// pages, page, two fonts, the stream and an info dictionary, then the
// cross-reference table, ending with %%EOF.
func assemblePDF(content []byte, title string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] " +
		"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>")
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	obj(fmt.Sprintf("<< /Title (%s) /Author (%s) /Producer (extendsim) >>", pdfString(title), pdfString(Merchant)))
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info 7 0 R >>\nstartxref\n%d\n%%%%EOF", len(offsets)+1, xref)
	return b.Bytes()
}
