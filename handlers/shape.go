package handlers

// Request shapes (docs/requests.md). Vendre's pull set-up is configured per
// shop, so a Vendre call may come
//   - as GET or HEAD with its parameters in the query, or as POST with them
//     in a form-encoded or JSON body (an object of strings and numbers);
//   - with the key in X-Api-Key, in Authorization: Bearer, in the header
//     named by VENDRE_KEY_HEADER, or, in a POST body, as api_key;
//   - with parameter names of its own (VENDRE_PARAM_ALIASES).
// The Shape middleware reads every shape into one shapedRequest: the
// parameters by their own names, and the key. The handlers read only that
// (paramsOf), and APIKey and RateLimit read the key only through keyOf.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// ParamNames are the parameters of Vendre's calls: the names an alias may
// stand for.
var ParamNames = []string{"api_key", "customer_no", "from", "to", "page", "per_page", "offset", "limit", "products", "warehouse"}

// paramKey is the body parameter that carries the API key.
const paramKey = "api_key"

// MaxBody is the largest body of a Vendre call: 413 beyond it. A prices
// call naming 100 product numbers of 64 bytes takes about 6.5 KiB.
const MaxBody = 16 << 10

// ShapeConfig configures the Shape middleware.
type ShapeConfig struct {
	// KeyHeader is one more header that may carry the key
	// (VENDRE_KEY_HEADER); "": X-Api-Key and Authorization: Bearer only.
	// CheckKeyHeader says which names are refused.
	KeyHeader string
	// Aliases maps other names of parameters to theirs
	// (VENDRE_PARAM_ALIASES), as ParseAliases returns them.
	Aliases map[string]string
}

// shapedRequest is what Shape read of a request.
type shapedRequest struct {
	params url.Values // by the parameter's own name, one value each
	key    string     // "" when none was given
}

// shapeKey is where Shape leaves the shapedRequest in the echo.Context.
const shapeKey = "handlers.shape"

// Errors of the request's shape.
var (
	errBodyTooLarge  = echo.NewHTTPError(http.StatusRequestEntityTooLarge)
	errBodyMediaType = &mediaTypeError{}
)

// mediaTypeError is a body that is neither form-encoded nor JSON: 415.
type mediaTypeError struct{}

func (*mediaTypeError) Error() string {
	return "the body must be application/x-www-form-urlencoded or application/json (UTF-8)"
}

// Shape reads the request's parameters and key, whatever its shape, for
// the handlers, APIKey and RateLimit after it. A parameter given twice
// (in the query and the body, twice in one of them, or under its name and
// an alias) is a 400 naming it; so is a key given in more than one place,
// or in the URL. A body over MaxBody is a 413; a body of another type a
// 415.
func Shape(cfg ShapeConfig) echo.MiddlewareFunc {
	if cfg.KeyHeader != "" {
		cfg.KeyHeader = http.CanonicalHeaderKey(cfg.KeyHeader)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			s, err := readShape(c.Request(), cfg)
			if err != nil {
				return err
			}
			c.Set(shapeKey, s)
			return next(c)
		}
	}
}

// paramsOf returns the request's parameters by their own names: what
// Shape read, or the query on a route without Shape.
func paramsOf(c echo.Context) url.Values {
	if s, ok := c.Get(shapeKey).(*shapedRequest); ok {
		return s.params
	}
	return c.QueryParams()
}

// keyOf returns the API key the request presents, "" when none: the one
// place that knows where keys are (Shape read it; on a route without
// Shape, X-Api-Key).
func keyOf(c echo.Context) string {
	if s, ok := c.Get(shapeKey).(*shapedRequest); ok {
		return s.key
	}
	return c.Request().Header.Get("X-Api-Key")
}

// readShape reads r's parameters and key.
func readShape(r *http.Request, cfg ShapeConfig) (*shapedRequest, error) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &paramError{Param: "query", Msg: "the query string is not valid URL encoding"}
	}
	s := &shapedRequest{params: url.Values{}}
	as := map[string]string{}
	if err := s.add(query, cfg.Aliases, as); err != nil {
		return nil, err
	}
	if _, ok := s.params[paramKey]; ok {
		return nil, &paramError{Param: paramKey, Msg: "api_key must not be in the URL: send it in a header or a POST body"}
	}
	if r.Method == http.MethodPost {
		body, err := readParamBody(r)
		if err != nil {
			return nil, err
		}
		if err := s.add(body, cfg.Aliases, as); err != nil {
			return nil, err
		}
	}
	keys := s.params[paramKey]
	delete(s.params, paramKey)
	keys = append(keys, r.Header.Values("X-Api-Key")...)
	for _, v := range r.Header.Values(echo.HeaderAuthorization) {
		if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
			keys = append(keys, strings.TrimSpace(v[7:]))
		}
	}
	if cfg.KeyHeader != "" {
		keys = append(keys, r.Header.Values(cfg.KeyHeader)...)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == "" })
	switch len(keys) {
	case 0:
	case 1:
		s.key = keys[0]
	default:
		return nil, &paramError{Param: paramKey, Msg: "the API key is given more than once: send it in one header, or as api_key in a POST body"}
	}
	return s, nil
}

// add adds the parameters of one source (the query, the body) under their
// own names; other names are ignored. as remembers the name each was
// given under, for the message when it comes again.
func (s *shapedRequest) add(src url.Values, aliases map[string]string, as map[string]string) error {
	names := slices.Sorted(maps.Keys(src)) // the same message for the same request
	for _, name := range names {
		vs := src[name]
		own := name
		if a, ok := aliases[name]; ok {
			own = a
		}
		if !slices.Contains(ParamNames, own) {
			continue // not ours: a tracking parameter, a cache buster
		}
		if len(vs) > 1 || s.params[own] != nil {
			msg := own + " is given more than once"
			if prev := as[own]; prev != "" && prev != name {
				msg += fmt.Sprintf(" (as %s and as %s)", prev, name)
			} else if name != own {
				msg += " (as " + name + ")"
			}
			return &paramError{Param: own, Msg: msg}
		}
		s.params[own] = vs
		as[own] = name
	}
	return nil
}

// readParamBody reads a POST body of at most MaxBody bytes as form-encoded or
// JSON parameters. An empty body has none.
func readParamBody(r *http.Request) (url.Values, error) {
	if r.Body == nil || r.ContentLength == 0 {
		return nil, nil
	}
	if r.ContentLength > MaxBody {
		return nil, errBodyTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, &paramError{Param: "body", Msg: "the body could not be read"}
	}
	if len(b) > MaxBody {
		return nil, errBodyTooLarge
	}
	if len(b) == 0 {
		return nil, nil
	}
	return parseBody(r.Header.Get(echo.HeaderContentType), b)
}

// parseBody reads b, of content type ct, as parameters: form-encoded
// (application/x-www-form-urlencoded) or a JSON object of strings and
// numbers (application/json), in UTF-8.
func parseBody(ct string, b []byte) (url.Values, error) {
	mt, ps, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, errBodyMediaType
	}
	if cs, ok := ps["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, errBodyMediaType
	}
	switch mt {
	case echo.MIMEApplicationForm:
		v, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, &paramError{Param: "body", Msg: "the body is not valid form encoding"}
		}
		return v, nil
	case echo.MIMEApplicationJSON:
		return parseJSONBody(b)
	}
	return nil, errBodyMediaType
}

// parseJSONBody reads a JSON object whose values are strings or numbers
// (a number as written: 00042 is not JSON, "00042" is). A name given twice
// is kept twice, for add to refuse.
func parseJSONBody(b []byte) (url.Values, error) {
	bad := &paramError{Param: "body", Msg: "the body must be one JSON object of strings and numbers"}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad
	}
	v := url.Values{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		name, _ := t.(string)
		t, err = dec.Token()
		if err != nil {
			return nil, bad
		}
		switch x := t.(type) {
		case string:
			v[name] = append(v[name], x)
		case json.Number:
			v[name] = append(v[name], x.String())
		default:
			if slices.Contains(ParamNames, name) {
				return nil, &paramError{Param: name, Msg: name + " must be a JSON string or number"}
			}
			return nil, bad
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad // something after the object
	}
	return v, nil
}

// ParseAliases reads VENDRE_PARAM_ALIASES's items, each alias=name (e.g.
// kundnr=customer_no), into a map from alias to name. It refuses an item
// that is not alias=name, a name that is not one of ParamNames, an alias
// that is itself one of ParamNames (it would clash with that parameter),
// and an alias given twice.
func ParseAliases(items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, it := range items {
		alias, name, ok := strings.Cut(it, "=")
		alias, name = strings.TrimSpace(alias), strings.TrimSpace(name)
		switch {
		case !ok || alias == "" || name == "":
			return nil, fmt.Errorf("want alias=name, got %q", it)
		case !slices.Contains(ParamNames, name):
			return nil, fmt.Errorf("%q is not a parameter (want one of %s)", name, strings.Join(ParamNames, ", "))
		case slices.Contains(ParamNames, alias):
			return nil, fmt.Errorf("alias %q clashes with the parameter of that name", alias)
		case out[alias] != "":
			return nil, fmt.Errorf("alias %q is given twice", alias)
		}
		out[alias] = name
	}
	return out, nil
}

// CheckKeyHeader checks VENDRE_KEY_HEADER: a header name (RFC 9110 token)
// that is not one HTTP itself or the gateway already gives a meaning.
func CheckKeyHeader(name string) error {
	if name == "" {
		return nil
	}
	for _, r := range name {
		if r > 0x7e || !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return fmt.Errorf("%q is not a header name", name)
		}
	}
	switch http.CanonicalHeaderKey(name) {
	case "Authorization", "X-Api-Key", "Cookie", "Host", "Content-Type", "Content-Length", "Transfer-Encoding",
		"Connection", "Forwarded", "X-Forwarded-For", "Proxy-Authorization", "Ms-Signature", "X-Webhook-Token":
		return fmt.Errorf("%s already has a meaning; name another header", name)
	}
	return nil
}

// errorOfShape maps the shape's own errors for classify.
func errorOfShape(err error) (int, string, string, bool) {
	var mte *mediaTypeError
	if errors.As(err, &mte) {
		return http.StatusUnsupportedMediaType, codeInvalid, mte.Error(), true
	}
	if errors.Is(err, errBodyTooLarge) {
		return http.StatusRequestEntityTooLarge, codeInvalid, "the body is larger than " + strconv.Itoa(MaxBody) + " bytes", true
	}
	return 0, "", "", false
}
