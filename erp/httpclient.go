package erp

import "net/http"

// NewHTTPClient returns the HTTP client New uses when Config.HTTPClient is
// nil: dial, TLS and idle timeouts, a connection pool sized for one busy
// upstream host, and redirects not followed. Callers that decorate the
// transport (telemetry) start from it so they keep those settings:
//
//	hc := erp.NewHTTPClient()
//	hc.Transport = wrap(hc.Transport)
func NewHTTPClient() *http.Client { return newHTTPClient() }
