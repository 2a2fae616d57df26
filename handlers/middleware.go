package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// APIKeyConfig configures the APIKey middleware.
type APIKeyConfig struct {
	// Skipper skips the check for some requests.
	Skipper middleware.Skipper
	// Keys are the accepted keys.
	Keys []string
}

// APIKey refuses a request whose key is missing or not accepted with 401
// unauthorized. The key is where Shape found it (keyOf). Keys are
// compared in constant time (over their SHA-256, so neither a key's
// content nor its length leaks through timing).
func APIKey(cfg APIKeyConfig) echo.MiddlewareFunc {
	if cfg.Skipper == nil {
		cfg.Skipper = middleware.DefaultSkipper
	}
	want := make([][32]byte, 0, len(cfg.Keys))
	for _, k := range cfg.Keys {
		if k != "" {
			want = append(want, sha256.Sum256([]byte(k)))
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			if !oneOf(keyOf(c), want) {
				return errUnauthorized
			}
			return next(c)
		}
	}
}

// BearerToken guards the admin routes with Authorization: Bearer <token>.
// With no token configured the routes do not exist (404); a wrong or
// missing token gets 401.
func BearerToken(token string) echo.MiddlewareFunc {
	want := [][32]byte{sha256.Sum256([]byte(token))}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if token == "" {
				return errNoRoute
			}
			got, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
			if !ok || !oneOf(strings.TrimSpace(got), want) {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="gateway admin"`)
				return errUnauthorized
			}
			return next(c)
		}
	}
}

// oneOf reports in constant time whether got is one of the keys whose
// hashes are want.
func oneOf(got string, want [][32]byte) bool {
	if got == "" {
		return false
	}
	h := sha256.Sum256([]byte(got))
	match := 0
	for i := range want {
		match |= subtle.ConstantTimeCompare(h[:], want[i][:])
	}
	return match == 1
}

// requestLog writes one JSON line per request: route, status, latency,
// cache outcome and customer number (no other personal data, no secrets).
// A request that failed after its answer began (a file cut short: the
// caller got less than the status promised) is logged at error level,
// with the error.
func requestLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			level := slog.LevelInfo
			if err != nil {
				if c.Response().Committed {
					level = slog.LevelError
				}
				c.Error(err)
			}
			if !log.Enabled(c.Request().Context(), level) {
				return nil
			}
			res := c.Response()
			attrs := []slog.Attr{
				slog.String("method", c.Request().Method),
				slog.String("route", c.Path()),
				slog.Int("status", res.Status),
				slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
				slog.String("cache", res.Header().Get("X-Cache")),
				slog.String("customer_no", customerParam(c)),
				slog.String("trace_id", traceID(c.Request().Context())),
			}
			if level == slog.LevelError {
				attrs = append(attrs, slog.String("err", "answer cut short: "+err.Error()))
			}
			log.LogAttrs(c.Request().Context(), level, "request", attrs...)
			return nil
		}
	}
}

// customerParam returns customer_no when it is well-formed (so the log
// never carries what a caller typed into it otherwise).
func customerParam(c echo.Context) string {
	v := paramsOf(c).Get("customer_no")
	if !matchChars(v, 32, false) {
		return ""
	}
	return v
}

// headAsGet answers HEAD as the same GET would be answered, without the
// body (RFC 9110 §9.3.2): the same status and fields, errors included,
// and Content-Length the length the body would have had.
func headAsGet() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Method != http.MethodHead {
				return next(c)
			}
			res := c.Response()
			hw := &headWriter{ResponseWriter: res.Writer}
			res.Writer = hw
			if err := next(c); err != nil {
				c.Error(err)
			}
			res.Writer = hw.ResponseWriter
			hw.finish()
			return nil
		}
	}
}

// headWriter keeps a HEAD answer's status and counts its body's bytes
// instead of sending them; finish sends the status and fields.
type headWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *headWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *headWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += int64(len(b))
	return len(b), nil
}

func (w *headWriter) finish() {
	if w.status == 0 {
		return // nothing was answered (the caller hung up)
	}
	if h := w.Header(); h.Get(echo.HeaderContentLength) == "" {
		h.Set(echo.HeaderContentLength, strconv.FormatInt(w.n, 10))
	}
	w.ResponseWriter.WriteHeader(w.status)
}
