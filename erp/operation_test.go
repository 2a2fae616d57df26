package erp_test

import (
	"testing"

	"github.com/vendre-extend/gateway/erp"
)

func TestOperationName(t *testing.T) {
	tests := []struct {
		method, path, want string
	}{
		{"POST", "/oauth/token", erp.OpToken},
		{"POST", "/api/v1/oauth/token", erp.OpToken},
		{"GET", "/oauth/token", erp.OpOther},
		{"GET", "/CustomerOrders", erp.OpOrderList},
		{"GET", "/api/v1/CustomerOrders/", erp.OpOrderList},
		{"POST", "/CustomerOrders", erp.OpOrderCreate},
		{"GET", "/api/v1/CustomerOrders/SO-1001", erp.OpOrder},
		{"DELETE", "/CustomerOrders/SO-1001", erp.OpOther},
		{"GET", "/CustomerInvoices", erp.OpInvoiceList},
		{"GET", "/CustomerInvoices/F-1", erp.OpInvoice},
		{"GET", "/x/CustomerInvoices/F-1/pdf", erp.OpInvoicePDF},
		{"GET", "/CustomerInvoices/F-1/xml", erp.OpOther},
		{"GET", "/ProductAvailability", erp.OpAvailability},
		{"GET", "/ProductPrices", erp.OpPrices},
		{"GET", "/Customers/10001", erp.OpCustomer},
		{"GET", "/api/v1/Products", erp.OpProductList},
		{"GET", "/Products/HV-1101", erp.OpProduct},
		{"POST", "/Products", erp.OpOther},
		{"GET", "/Products/HV-1101/images", erp.OpOther},
		{"GET", "/ProductGroups", erp.OpProductGroup},
		{"GET", "/ProductGroups/ARB", erp.OpOther},
		{"GET", "/Customers", erp.OpOther},
		{"GET", "/", erp.OpOther},
		{"GET", "", erp.OpOther},
		{"GET", "/Something/else", erp.OpOther},
	}
	for _, tt := range tests {
		if got := erp.OperationName(tt.method, tt.path); got != tt.want {
			t.Errorf("OperationName(%q, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}
