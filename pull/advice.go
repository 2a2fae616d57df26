package pull

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"

	"github.com/vendre-extend/gateway/schemas"
)

// Report writes Probe's findings as lines of text, for gateway probe
// (docs/extend.md): "ok   what" for an answer that fits, "FAIL what:
// why" for one that does not, followed field by field by what to check
// in Extend Commerce.
type Report struct {
	W               io.Writer
	Checked, Failed int // answers checked, and how many of them failed
}

// Found writes one finding; it is Probe's found.
func (r *Report) Found(f Finding) {
	r.Checked++
	if f.Err == nil {
		fmt.Fprintf(r.W, "ok   %s\n", f.What)
		return
	}
	r.Failed++
	var ve *schemas.ValidationError
	if errors.As(f.Err, &ve) {
		fmt.Fprintf(r.W, "FAIL %s: %v\n", f.What, ve)
		r.advise(ve) // field by field, with what to check in Extend
		return
	}
	fmt.Fprintf(r.W, "FAIL %s: %v\n", f.What, f.Err)
	r.adviseDecode(f.Err)
}

// fieldAdvice says, for a field of Vendre's answer (the last element of
// its JSON path), which Extend Commerce field it comes from and what to
// check there (docs/extend.md).
var fieldAdvice = map[string]string{
	"status":         "Extend's Status is not one the gateway knows (Registered, Reserved, Picked, Delivered, Cancelled). Ask which statuses this Extend uses; a new one needs a mapping in mapping/.",
	"date":           "Extend's OrderDate or InvoiceDate must be a date, YYYY-MM-DD. Check the date format the ERP's API is set to.",
	"order_date":     "Extend's OrderDate must be a date, YYYY-MM-DD. Check the date format the ERP's API is set to.",
	"due_date":       "Extend's DueDate must be a date, YYYY-MM-DD. Check the invoice's terms of payment in Extend.",
	"country":        "Extend's CountryCode must be an ISO 3166-1 alpha-2 code (SE, NO, FI). Fix the customer's or delivery address's country in Extend.",
	"country_iso":    "Extend's CountryCode must be an ISO 3166-1 alpha-2 code (SE, NO, FI). Fix the customer's or delivery address's country in Extend.",
	"payment_status": "Extend's invoice Balance, DueDate and paid state do not give a known payment status.",
	"pdf_link":       "PUBLIC_BASE_URL must be the gateway's public https URL.",
	"tracking_link":  "The carrier's tracking URL in Extend must be an https URL.",
	"id":             "Extend's record numbers (OrderNumber, InvoiceNumber) must be 1 to 32 letters, digits, - or _.",
	"order_no":       "Extend's OrderNumber must be 1 to 32 letters, digits, - or _.",
	"customer_no":    "Extend's CustomerNumber must be 1 to 32 letters, digits, - or _.",
	"quantity":       "A row's Quantity in Extend is not a valid number.",
}

// advise prints, under a failed check, one line per field that does not
// fit Vendre's schema, with what to look at in Extend Commerce.
func (r *Report) advise(ve *schemas.ValidationError) {
	for _, f := range ve.Failures {
		a, ok := fieldAdvice[path.Base(f.Path)]
		switch {
		case ok:
		case f.Keyword == "required":
			a = "Extend left out a field the gateway needs; see docs/extend.md for the record's fields."
		default:
			a = "This value from Extend does not fit Vendre's schema (schemas/); compare the record with docs/extend.md."
		}
		fmt.Fprintf(r.W, "     field %s: %s\n     advice: %s\n", f.Path, f.Message, a)
	}
}

// adviseDecode prints, under a record that did not decode, the Extend
// field whose JSON type is wrong (an object where money belongs), with
// what the gateway expected there.
func (r *Report) adviseDecode(err error) {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field == "" {
		return
	}
	fmt.Fprintf(r.W, "     field %s: Extend sent %s, the gateway reads %s\n     advice: %s\n", te.Field, te.Value, typeName(te.Type),
		"check this field of the record in Extend's API; see docs/extend.md for the shape the gateway expects.")
}

// typeName says what a Go type of the erp package is on the wire.
func typeName(t reflect.Type) string {
	switch {
	case t == nil:
		return "another type"
	case t.Name() == "Amount":
		return "money (a number, or a numeric string such as \"1 234.50\")"
	case t.Name() == "Number":
		return "a number (or a numeric string)"
	case t.Kind() == reflect.String:
		return "text"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Struct:
		return "an object"
	}
	return t.String()
}
