// Package schemas holds the JSON Schemas (draft 2020-12) of every answer the
// gateway gives Vendre, embedded in the binary, and checks answers against
// them before they leave: an answer that fails its schema is a 502, never a
// shape Vendre cannot render.
//
// The schemas are strict: every field of the contract is required, no other
// field is allowed, strings are never null and lists are never null. Dates
// are YYYY-MM-DD or "" (a date the ERP left empty), money is a display
// string holding at least one digit. defs.json holds the shared parts;
// api/openapi.yaml repeats them as components.
//
// Use:
//
//	set, err := schemas.Load() // once, at start
//	err = set.Validate(schemas.Order, body)
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// Names of the schemas, one per answer; each is the file name without
// ".json".
const (
	OrderList         = "order_list"          // GET /v1/orders
	Order             = "order"               // GET /v1/orders/{id}
	InvoiceList       = "invoice_list"        // GET /v1/invoices
	Invoice           = "invoice"             // GET /v1/invoices/{id}
	Error             = "error"               // every error answer
	Backorders        = "backorders"          // GET /v1/backorders
	CreditInvoiceList = "credit_invoice_list" // GET /v1/credit-invoices
	Addresses         = "addresses"           // GET /v1/addresses
	Prices            = "prices"              // GET /v1/prices
	Stock             = "stock"               // GET /v1/stock
)

// names lists every schema that Load compiles.
var names = []string{
	OrderList, Order, InvoiceList, Invoice, Error,
	Backorders, CreditInvoiceList, Addresses, Prices, Stock,
}

// Names returns every schema name that Validate accepts.
func Names() []string { return append([]string(nil), names...) }

// BaseURL is the prefix of every schema's $id; the file name follows it.
// Nothing is fetched from it: all schemas are embedded.
const BaseURL = "https://github.com/vendre-extend/gateway/schemas/"

// ErrUnknownSchema is returned by Validate for a name not in Names().
var ErrUnknownSchema = errors.New("unknown schema")

// maxShown bounds how many failures one error line names.
const maxShown = 5

//go:embed *.json
var files embed.FS

// Set is the compiled schemas. It is safe for concurrent use.
type Set struct {
	byName map[string]*jsonschema.Schema
}

// Load compiles every embedded schema. Call it once at start; an error
// means a schema file is broken, which the tests of this package catch.
func Load() (*Set, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	// Formats are annotations only: the schemas say what they mean with
	// patterns, so that "" can be allowed where the contract allows it.
	c.AssertFormat = false
	c.LoadURL = func(url string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("schemas: %s is not embedded", url)
	}
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	for _, e := range entries {
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, fmt.Errorf("schemas: %w", err)
		}
		if err := c.AddResource(BaseURL+e.Name(), bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", e.Name(), err)
		}
	}
	s := &Set{byName: make(map[string]*jsonschema.Schema, len(names))}
	for _, name := range names {
		sch, err := c.Compile(BaseURL + name + ".json")
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		s.byName[name] = sch
	}
	return s, nil
}

// Validate checks that body is one JSON value that fits the schema called
// name. It returns nil when it fits; a *ValidationError (one line naming
// each failing instance path and keyword) when it does not; an error
// wrapping ErrUnknownSchema for a name not in Names() (or a nil Set); and
// another error when body is not JSON.
func (s *Set) Validate(name string, body []byte) error {
	var sch *jsonschema.Schema
	if s != nil {
		sch = s.byName[name]
	}
	if sch == nil {
		return fmt.Errorf("schemas: %w %q", ErrUnknownSchema, name)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep numbers exact: 1.0 and 1e2 are integers to the schema
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("schema %s: invalid JSON: %w", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("schema %s: invalid JSON: data after the top-level value", name)
	}
	err := sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return newValidationError(name, ve)
	}
	return fmt.Errorf("schema %s: %w", name, err)
}

// ValidationError is what Validate returns when a JSON value does not fit
// its schema.
type ValidationError struct {
	Schema   string    // the schema's name, e.g. "order"
	Failures []Failure // at least one, sorted by Path
}

// Failure is one reason a value does not fit.
type Failure struct {
	// Path is the JSON pointer of the failing value ("" is the whole
	// answer; a missing or extra field fails at its parent object).
	Path string
	// Keyword is the schema keyword that failed: type, required,
	// additionalProperties, pattern, enum, const, minimum, maxItems, ...
	Keyword string
	// Message says why, e.g. "expected string, but got null".
	Message string
}

// Error returns one line, e.g.
// `schema order: /customer/country_iso: does not match pattern '^([A-Z]{3})?$' (pattern)`.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("schema ")
	b.WriteString(e.Schema)
	b.WriteString(": ")
	for i, f := range e.Failures {
		if i == maxShown {
			fmt.Fprintf(&b, "; and %d more", len(e.Failures)-maxShown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		path := f.Path
		if path == "" {
			path = "/"
		}
		fmt.Fprintf(&b, "%s: %s (%s)", path, f.Message, f.Keyword)
	}
	return oneLine(b.String())
}

// newValidationError flattens the library's tree of errors into its
// leaves, the failures that say what is wrong.
func newValidationError(name string, ve *jsonschema.ValidationError) *ValidationError {
	e := &ValidationError{Schema: name}
	var walk func(*jsonschema.ValidationError)
	walk = func(ve *jsonschema.ValidationError) {
		if len(ve.Causes) == 0 {
			e.Failures = append(e.Failures, Failure{
				Path:    ve.InstanceLocation,
				Keyword: keyword(ve.KeywordLocation),
				Message: ve.Message,
			})
			return
		}
		for _, c := range ve.Causes {
			walk(c)
		}
	}
	walk(ve)
	// The library visits properties in map order; sort for stable errors.
	sort.Slice(e.Failures, func(i, j int) bool {
		a, b := e.Failures[i], e.Failures[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Keyword != b.Keyword {
			return a.Keyword < b.Keyword
		}
		return a.Message < b.Message
	})
	return e
}

// keyword returns the last token of a keyword location such as
// "/properties/customer/$ref/properties/country_iso/pattern".
func keyword(loc string) string {
	k := loc[strings.LastIndexByte(loc, '/')+1:]
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(k)
}

// oneLine replaces line breaks so that an error stays one log line.
func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}
