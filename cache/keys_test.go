package cache_test

import (
	"strings"
	"testing"

	"github.com/vendre-extend/gateway/cache"
)

func TestKeys(t *testing.T) {
	var k cache.Keys
	tests := []struct {
		name, got, want string
	}{
		{"AllPrefix", k.AllPrefix(), "v5:"},
		{"CustomerPrefix", k.CustomerPrefix("10001"), "v5:c:{10001}:"},
		{"FamilyPrefix", k.FamilyPrefix("10001", cache.FamilyOrders), "v5:c:{10001}:orders:"},
		{"OrderList", k.OrderList("10001", "2025-01-01", "2025-12-31", 2, 25), "v5:c:{10001}:orders:list:2025-01-01:2025-12-31:2:25"},
		{"Order", k.Order("10001", "500123"), "v5:c:{10001}:orders:one:500123"},
		{"Backorders", k.Backorders("10001", "2025-06-01"), "v5:c:{10001}:orders:backorders:2025-06-01"},
		{"InvoiceList", k.InvoiceList("A_b-9", "2025-06-01", "2025-01-01", "2025-12-31", 1, 100), "v5:c:{A_b-9}:invoices:list:2025-06-01:2025-01-01:2025-12-31:1:100"},
		{"Invoice", k.Invoice("10001", "2025-06-01", "F-1.2"), "v5:c:{10001}:invoices:one:2025-06-01:F-1.2"},
		{"CreditInvoiceList", k.CreditInvoiceList("10001", "2025-06-01", "2025-01-01", "2025-12-31", 1, 25), "v5:c:{10001}:invoices:credits:2025-06-01:2025-01-01:2025-12-31:1:25"},
		{"Addresses", k.Addresses("10001"), "v5:c:{10001}:customer:addresses"},
		{"Price", k.Price("10001", "AB-1"), "v5:c:{10001}:prices:AB-1"},
		{"OrderRecord", k.OrderRecord("500123"), "v5:rec:order:500123"},
		{"InvoiceRecord", k.InvoiceRecord("9001"), "v5:rec:invoice:9001"},
		{"id with colon", k.Order("10001", "1:2"), "v5:c:{10001}:orders:one:~313a32"},
		{"id with star", k.Order("10001", "*"), "v5:c:{10001}:orders:one:~2a"},
		{"empty id", k.Order("10001", ""), "v5:c:{10001}:orders:one:~"},
		{"non-ASCII id", k.Invoice("10001", "2025-06-01", "ö"), "v5:c:{10001}:invoices:one:2025-06-01:~c3b6"},
		{"customer outside the rule", k.CustomerPrefix("a:b"), "v5:c:{~613a62}:"},
		{"record with space", k.OrderRecord("1 2"), "v5:rec:order:~312032"},
		{"Connector", k.Connector("baselinker", "catalogue"), "conn:v2:baselinker:catalogue"},
		{"Connector part with colon", k.Connector("baselinker", "product", "A:1"), "conn:v2:baselinker:product:~413a31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
			}
		})
	}
}

// tricky are customer numbers and ids chosen to collide under a careless
// scheme: shifted digits, separators, glob characters, the escape marker.
var tricky = []string{
	"1", "11", "10001", "1000", "100011", "01", "", "~", "~31", "~313a32",
	"1:2", "1:order:2", ":", "*", "?", "[a]", `\`, "a b", "ö", "1.2", "-", "_",
	"orders", "order", "2025-01-01:2025-12-31:1:25",
}

// TestKeysNeverCollide builds every key from every combination of tricky
// inputs and checks that no two different calls give the same key.
func TestKeysNeverCollide(t *testing.T) {
	var k cache.Keys
	seen := map[string]string{} // key -> call that built it
	add := func(call, key string) {
		t.Helper()
		if prev, ok := seen[key]; ok && prev != call {
			t.Errorf("%s and %s both give %q", prev, call, key)
		}
		seen[key] = call
	}
	for _, a := range tricky {
		add("OrderRecord("+a+")", k.OrderRecord(a))
		add("InvoiceRecord("+a+")", k.InvoiceRecord(a))
		for _, b := range tricky {
			add("Order("+a+", "+b+")", k.Order(a, b))
			add("Invoice("+a+", "+b+")", k.Invoice(a, "2025-06-01", b))
			add("Connector(x, "+a+", "+b+")", k.Connector("x", a, b))
			add("OrderList("+a+", "+b+")", k.OrderList(a, b, "2025-12-31", 1, 25))
			add("InvoiceList("+a+", "+b+")", k.InvoiceList(a, "2025-06-01", "2025-01-01", b, 1, 25))
			add("CreditInvoiceList("+a+", "+b+")", k.CreditInvoiceList(a, "2025-06-01", b, b, 1, 25))
			add("Price("+a+", "+b+")", k.Price(a, b))
		}
	}
	if k.Order("10001", "1") == k.Order("1000", "11") {
		t.Errorf(`Order("10001", "1") == Order("1000", "11")`)
	}
}

// TestKeysStayInTheirCustomer checks that a customer's prefix starts all of
// that customer's keys and none of anyone else's, whatever the id, and that
// no key holds a glob character.
func TestKeysStayInTheirCustomer(t *testing.T) {
	var k cache.Keys
	for _, owner := range tricky {
		for _, id := range tricky {
			for _, key := range []string{
				k.Order(owner, id), k.Invoice(owner, id, id),
				k.OrderList(owner, id, id, 1, 25),
				k.InvoiceList(owner, id, id, id, 1, 25),
				k.CreditInvoiceList(owner, id, id, id, 1, 25),
				k.Price(owner, id), k.Backorders(owner, id), k.Addresses(owner),
			} {
				if strings.ContainsAny(key, `*?[]\`) {
					t.Errorf("key %q holds a glob character", key)
				}
				if !strings.HasPrefix(key, k.AllPrefix()) {
					t.Errorf("key %q does not start with AllPrefix %q", key, k.AllPrefix())
				}
				for _, other := range tricky {
					if got, want := strings.HasPrefix(key, k.CustomerPrefix(other)), other == owner; got != want {
						t.Errorf("key %q of customer %q: HasPrefix(CustomerPrefix(%q)) = %v, want %v", key, owner, other, got, want)
					}
				}
			}
		}
		if strings.HasPrefix(k.OrderRecord(owner), k.CustomerPrefix(owner)) {
			t.Errorf("OrderRecord(%q) is inside a customer's prefix", owner)
		}
	}
}

// FuzzOrder checks, for any two (customer, id) pairs, that the keys differ
// when the pairs do, and that each key stays under its customer's prefix.
func FuzzOrder(f *testing.F) {
	f.Add("10001", "1", "1000", "11")
	f.Add("1", "2:order:3", "1:order:2", "3")
	f.Add("a", "~31", "a", "1")
	var k cache.Keys
	f.Fuzz(func(t *testing.T, c1, id1, c2, id2 string) {
		k1, k2 := k.Order(c1, id1), k.Order(c2, id2)
		if (k1 == k2) != (c1 == c2 && id1 == id2) {
			t.Errorf("Order(%q, %q) = %q, Order(%q, %q) = %q", c1, id1, k1, c2, id2, k2)
		}
		if !strings.HasPrefix(k1, k.CustomerPrefix(c1)) {
			t.Errorf("Order(%q, %q) = %q, not under CustomerPrefix %q", c1, id1, k1, k.CustomerPrefix(c1))
		}
		if c1 != c2 && strings.HasPrefix(k1, k.CustomerPrefix(c2)) {
			t.Errorf("Order(%q, %q) = %q is under CustomerPrefix(%q)", c1, id1, k1, c2)
		}
	})
}
