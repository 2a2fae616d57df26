package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/doclink"
)

// TestDemoDocumentKey: in demo mode the key of pdf_link tokens is drawn at
// each start, so a link forged with a key anyone can read in the source
// is refused, and so is another demo gateway's link; with DOCUMENT_SECRET
// set, replicas that share it accept each other's links.
func TestDemoDocumentKey(t *testing.T) {
	a := startGateway(t, nil)
	inv, link := firstInvoice(t, a)
	if status, _ := get(t, "http://"+a+pathOf(link)); status != http.StatusOK {
		t.Fatalf("GET own pdf_link = %d, want 200", status)
	}
	forged := doclink.New(doclink.DeriveKey("demo-secret"), "http://"+a, nil).Link("10001", inv, time.Now().Add(time.Hour))
	if status, _ := get(t, forged); status != http.StatusNotFound {
		t.Errorf("GET a link signed with demo-secret = %d, want 404", status)
	}
	b := startGateway(t, nil)
	if status, _ := get(t, "http://"+b+pathOf(link)); status != http.StatusNotFound {
		t.Errorf("GET another demo gateway's pdf_link = %d, want 404", status)
	}

	shared := map[string]string{"DOCUMENT_SECRET": "one-document-secret-for-every-replica"}
	c, d := startGateway(t, shared), startGateway(t, shared)
	_, link = firstInvoice(t, c)
	if status, _ := get(t, "http://"+d+pathOf(link)); status != http.StatusOK {
		t.Errorf("GET a replica's pdf_link with DOCUMENT_SECRET shared = %d, want 200", status)
	}
}

// firstInvoice returns the number and pdf_link of customer 10001's newest
// invoice, as the demo gateway at addr answers them.
func firstInvoice(t *testing.T, addr string) (string, string) {
	t.Helper()
	var list api.InvoiceList
	demoGet(t, addr, "/v1/invoices?customer_no=10001&per_page=1", &list)
	if len(list.Invoices) == 0 {
		t.Fatal("customer 10001 has no invoices")
	}
	var inv api.Invoice
	demoGet(t, addr, "/v1/invoices/"+list.Invoices[0].ID+"?customer_no=10001", &inv)
	if inv.PDFLink == "" {
		t.Fatalf("invoice %s has no pdf_link", inv.ID)
	}
	return inv.ID, inv.PDFLink
}

// demoGet GETs target from addr with the demo key and decodes the 200
// answer into v.
func demoGet(t *testing.T, addr, target string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+target, nil)
	req.Header.Set("X-Api-Key", demoKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, %v; want 200 with JSON", target, res.StatusCode, err)
	}
}

// pathOf is the path of a pdf_link (made under PUBLIC_BASE_URL).
func pathOf(link string) string {
	i := strings.Index(link, "/v1/documents/")
	if i < 0 {
		return link
	}
	return link[i:]
}
