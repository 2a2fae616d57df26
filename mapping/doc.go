// Package mapping turns Extend Commerce records (package erp) into the JSON
// shapes Vendre renders (package api). It is the one place where ERP data
// becomes customer-facing data, so every rule of the contract
// (docs/api.md, "Answers") lives here:
//
//   - Money is a display string for the merchant's LOCALE and CURRENCY,
//     always with two decimals and the sign the ERP gave ("1 234,50 kr",
//     "-1 234,50 kr", "£1,234.50"). The formats come from a small explicit
//     table (money.go) rather than golang.org/x/text: CLDR separates
//     thousands with a no-break space in sv-SE, nb-NO and fi-FI, but the
//     contract's example "1 234,50 kr" has a plain ASCII space, and Vendre
//     shows the string byte for byte. So every space we write is U+0020.
//   - Countries: the ERP's ISO 3166-1 alpha-2 code (alpha-3 accepted too)
//     becomes the country's name in the language of LOCALE and its alpha-3
//     code, using golang.org/x/text/language/display.
//   - Payment status is derived from the invoice and from "today" in the
//     merchant's TIMEZONE.
//   - Text the ERP leaves out or sends as null is "", lists it leaves out are
//     [] (never null), so every answer is valid against the JSON Schemas.
//   - A tracking link reaches the customer only when it is an absolute
//     https:// URL; the ERP's own URLs (PDFs) are never mapped at all: the
//     caller passes the gateway's signed pdf_link.
//
// A Mapper is built once from the settings (New) and is safe for concurrent
// use.
package mapping
