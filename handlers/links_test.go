package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// TestLinksOnlyHTTPS: tracking_link is an https:// URL or "", whatever the
// ERP holds; pdf_link always points at the gateway, never at the ERP.
func TestLinksOnlyHTTPS(t *testing.T) {
	ev := newEnv(t)
	o, ok := ev.sim.Order(ev.sim.OrderNumbers(extendsim.CustomerShowcase)[0])
	if !ok {
		t.Fatal("no sample order")
	}
	links := []string{
		"http://track.example.test/1", "javascript:alert(1)", "//evil.example.test/x",
		"https://user:pw@track.example.test/2", "ftp://track.example.test/3", "data:text/html,hi",
		"https://track.example.test/ok?id=4",
	}
	o.Shipments = nil
	for i, l := range links {
		o.Shipments = append(o.Shipments, erp.Shipment{ShipmentNumber: "S" + string(rune('0'+i)), TrackingNumber: "T", TrackingURL: l})
	}
	id := ev.sim.SetOrder(o)
	rec := ev.get(t, "/v1/orders/"+id+"?customer_no="+o.CustomerNumber)
	if rec.Code != http.StatusOK {
		t.Fatalf("order = %d: %s", rec.Code, rec.Body)
	}
	got := decode[api.Order](t, rec)
	kept := 0
	for _, p := range got.Packages {
		switch {
		case p.TrackingLink == "":
		case strings.HasPrefix(p.TrackingLink, "https://track.example.test/ok"):
			kept++
		default:
			t.Errorf("tracking_link %q reached the customer", p.TrackingLink)
		}
	}
	if kept != 1 {
		t.Errorf("%d good https links kept, want 1", kept)
	}

	inv := ev.sim.InvoiceNumbers(extendsim.CustomerShowcase)[0]
	rec = ev.get(t, "/v1/invoices/"+inv+"?customer_no="+extendsim.CustomerShowcase)
	if link := decode[api.Invoice](t, rec).PDFLink; !strings.HasPrefix(link, "https://gw.example.test/v1/documents/") {
		t.Errorf("pdf_link %q, want the gateway's https://gw.example.test/v1/documents/…", link)
	}
}
