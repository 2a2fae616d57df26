package main

import (
	"strings"
	"testing"
)

func TestLearn(t *testing.T) {
	l := newLoad(nil, "k", []string{"7"})
	l.learn("/v1/orders?customer_no=7", []byte(`{"orders":[{"id":"1","customer_no":"7"},{"id":"2"}],"page":1}`))
	l.learn("/v1/invoices?customer_no=7", []byte(`{"invoices":[{"id":"5"}]}`))
	l.learn("/v1/orders?customer_no=7", []byte(`{"orders":[{"id":"3"}]}`))
	got := strings.Join(l.ids["7"], " ")
	if got != "/v1/orders/3 /v1/invoices/5" {
		t.Errorf("ids = %q", got)
	}
}
