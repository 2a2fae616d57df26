// Package doclink makes and checks the signed, expiring links that put an
// ERP document (an invoice PDF) in front of a customer without showing the
// ERP's URL: {PUBLIC_BASE_URL}/v1/documents/{token}.
//
// A token names the customer and the invoice it was made for and when it
// expires, and carries an HMAC-SHA256 over those. The token is the
// credential (a customer's browser opens the link without an API key), so a
// forged, altered or expired token is refused, and the caller of Parse must
// still check that the invoice belongs to the customer the token names.
package doclink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is returned by Parse for a token that is malformed, forged,
// altered or expired. Callers answer it with the same 404 as a missing
// document, so that a prober learns nothing.
var ErrInvalid = errors.New("doclink: invalid or expired token")

// version is the first field of every token, so the format can change.
const version = "d1"

// maxToken bounds what Parse looks at.
const maxToken = 512

// Signer makes and checks document links. It is safe for concurrent use.
type Signer struct {
	key  []byte
	base string
	now  func() time.Time
}

// New returns a Signer that signs with key and makes links under
// publicBaseURL (the gateway's own URL). Every replica must be given the
// same key. now is the clock that expiry is checked against; nil means
// time.Now.
func New(key []byte, publicBaseURL string, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{key: key, base: strings.TrimRight(publicBaseURL, "/"), now: now}
}

// Link returns the URL of invoice invoiceNo's PDF for customer customerNo,
// valid until expires. It returns "" for numbers that cannot be put in a
// token (empty, or holding a control character).
func (s *Signer) Link(customerNo, invoiceNo string, expires time.Time) string {
	t := s.Token(customerNo, invoiceNo, expires)
	if t == "" {
		return ""
	}
	return s.base + "/v1/documents/" + t
}

// Token returns the token part of a link; see Link.
func (s *Signer) Token(customerNo, invoiceNo string, expires time.Time) string {
	if !printable(customerNo) || !printable(invoiceNo) {
		return ""
	}
	payload := strings.Join([]string{version, customerNo, invoiceNo, strconv.FormatInt(expires.Unix(), 36)}, "\n")
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(s.sign(payload))
}

// Parse checks token and returns the customer and invoice it was made for.
// It returns ErrInvalid for anything but a genuine, unexpired token.
func (s *Signer) Parse(token string) (customerNo, invoiceNo string, err error) {
	if len(token) == 0 || len(token) > maxToken {
		return "", "", ErrInvalid
	}
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", "", ErrInvalid
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.sign(string(payload))) {
		return "", "", ErrInvalid
	}
	f := strings.Split(string(payload), "\n")
	if len(f) != 4 || f[0] != version {
		return "", "", ErrInvalid
	}
	exp, err := strconv.ParseInt(f[3], 36, 64)
	if err != nil || s.now().Unix() > exp {
		return "", "", ErrInvalid
	}
	return f[1], f[2], nil
}

func (s *Signer) sign(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func printable(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// DeriveKey derives the signing key from a secret every replica shares
// (DOCUMENT_SECRET, else the ERP client secret), so the links do not
// depend on which replica made them. The label keeps the key apart from
// any other use of the same secret.
func DeriveKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("vendre-extend-gateway document links v1"))
	return m.Sum(nil)
}
