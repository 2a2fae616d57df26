// Package handlers is the gateway's HTTP surface: every route, the
// middleware, and the one HTTPErrorHandler that turns errors into the
// contract's JSON errors.
package handlers

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/metric"

	"github.com/vendre-extend/gateway/pull"
)

// Puller answers the pull calls; *pull.Service has it.
type Puller interface {
	OrderList(ctx context.Context, customerNo string, q pull.ListQuery) (pull.Answer, error)
	Order(ctx context.Context, customerNo, id string) (pull.Answer, error)
	InvoiceList(ctx context.Context, customerNo string, q pull.ListQuery) (pull.Answer, error)
	Invoice(ctx context.Context, customerNo, id string) (pull.Answer, error)
	Document(ctx context.Context, token string) (pull.Document, error)
	FlushCustomer(ctx context.Context, customerNo string) (int, error)
	FlushAll(ctx context.Context) (int, error)
}

// ERPPauses lifts and shows the pauses Extend Commerce asked for;
// *erpguard.Guard has it.
type ERPPauses interface {
	// Resume lifts every pause, on every replica.
	Resume(ctx context.Context) error
	// Paused returns how long each paused rate-limit group stays paused.
	Paused(ctx context.Context) map[string]time.Duration
}

// Breaker is the ERP's circuit breaker (*erpguard.Guard), the gateway's one
// notion of the ERP being down: Open reports whether every recent call
// failed and the ERP is left alone until a probe gets through.
type Breaker interface {
	Open() bool
}

// RedisHealth is the gateway's one notion of Redis being down
// (*cache.Cache): RedisDown reports whether Redis failed to answer and has
// not answered since.
type RedisHealth interface {
	RedisDown() bool
}

// Deps is what the handlers are built from.
type Deps struct {
	Pull Puller
	// ERP says whether the ERP is down, for /readyz and the status page;
	// nil: never known to be down.
	ERP Breaker
	// Redis says whether Redis is down, for /readyz and the status page;
	// nil: no Redis configured.
	Redis      RedisHealth
	APIKeys    []string
	Shape      ShapeConfig // where Vendre's calls carry their key and parameters
	AdminToken string      // "": admin endpoints answer 404
	Location   *time.Location
	Logger     *slog.Logger
	Now        func() time.Time // nil: time.Now
	Metrics    http.Handler     // nil: /metrics answers 404
	Extended   Extended         // nil: the extended calls answer 404

	// KeyLimit limits, per API key, the requests that are not cache hits
	// (RateLimit); nil: no limit.
	KeyLimit KeyLimiter
	// Pauses lifts and shows the pauses Extend asked for (the guard's);
	// nil: POST /admin/erp/resume has nothing to lift.
	Pauses ERPPauses
	// Documents limits the downloads of GET /v1/documents/{token}
	// (DocumentLimit).
	Documents DocumentLimitConfig

	// MeterProvider records http.server.request.duration (Telemetry);
	// nil: no request metrics.
	MeterProvider metric.MeterProvider
	// Status feeds the admin status page, GET /admin/.
	Status StatusSources

	// ExtendWebhooks records POST /webhooks/extend; nil: 404
	// (EXTEND_WEBHOOK_SECRET unset).
	ExtendWebhooks ExtendWebhooks
	// VendreOrders records POST /webhooks/vendre; nil: 404 (the
	// vendre-webhook order source is off).
	VendreOrders VendreOrders
	// Pushers backs /admin/pushers; nil: none configured.
	Pushers Pushers
	// RetailCRM answers POST /retailcrm/{action}, RetailCRM's callbacks;
	// nil: 404 (RETAILCRM_CLIENT_ID unset).
	RetailCRM RetailCRM
	// Baselinker is Baselinker's integration file, POST /baselinker
	// (connectors/baselinker); nil: 404 (BASELINKER_PASSWORD unset).
	Baselinker http.Handler

	// AuthThrottle holds back sources that fail to authenticate too often
	// (every route that checks a credential); nil: one with
	// DefaultAuthFailures.
	AuthThrottle *AuthThrottle
	// TrustedProxies are the proxies, besides loopback, link-local and
	// private addresses, whose X-Forwarded-For names the client
	// (TRUSTED_PROXIES).
	TrustedProxies []*net.IPNet
}

// New returns the gateway's HTTP handler with every route.
func New(d Deps) *echo.Echo {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Location == nil {
		d.Location = time.UTC
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.Validator = newValidator()
	e.HTTPErrorHandler = errorHandler(d.Logger)
	e.IPExtractor = clientIP(d.TrustedProxies)
	e.Use(headAsGet())                                                          // outermost: HEAD is GET without the body, errors included
	e.Use(TelemetryWithConfig(TelemetryConfig{MeterProvider: d.MeterProvider})) // outermost: sees the final status
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}))
	e.Use(requestLog(d.Logger))
	e.Use(RequestLimits())

	h := &handler{d: d}
	if d.AuthThrottle == nil {
		d.AuthThrottle = NewAuthThrottle(DefaultAuthFailures, d.Logger)
	}
	throttle := d.AuthThrottle.Middleware(nil) // outside every credential check
	// Middleware goes on each route rather than on a group: a group's
	// middleware would turn 405 (wrong method) into 404.
	// Vendre's calls: GET, HEAD or POST in any of the request shapes
	// (Shape), with an accepted key (APIKey), limited per key; their ERP
	// calls count against their customer's fair share (RateLimit); a
	// source that fails too often is held back (throttle).
	vendre := chain(throttle, Shape(d.Shape), APIKey(APIKeyConfig{Keys: d.APIKeys}),
		RateLimit(RateLimitConfig{PerKey: d.KeyLimit}))
	pullCall := func(path string, fn echo.HandlerFunc) {
		e.Match([]string{http.MethodGet, http.MethodHead, http.MethodPost}, path, fn, vendre)
	}
	// get registers a GET route with HEAD beside it (RFC 9110 §9.3.2).
	get := func(path string, fn echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
		e.Match([]string{http.MethodGet, http.MethodHead}, path, fn, mw...)
	}
	pullCall("/v1/orders", h.orderList)
	pullCall("/v1/orders/:id", h.order)
	pullCall("/v1/invoices", h.invoiceList)
	pullCall("/v1/invoices/:id", h.invoice)
	get("/v1/documents/:token", h.document, DocumentLimit(d.Documents))
	if d.Extended != nil {
		pullCall("/v1/backorders", h.backorders)
		pullCall("/v1/credit-invoices", h.creditInvoiceList)
		pullCall("/v1/addresses", h.addresses)
		pullCall("/v1/prices", h.prices)
		pullCall("/v1/stock", h.stock)
	}

	get("/healthz", h.healthz)
	get("/readyz", h.readyz)
	if d.Metrics != nil {
		get("/metrics", echo.WrapHandler(d.Metrics))
	}
	admin := chain(throttle, BearerToken(d.AdminToken))
	e.POST("/admin/cache/flush", h.flush, admin)
	e.POST("/admin/erp/resume", h.resumeERP, admin)
	get("/admin/", h.status, admin)
	get("/admin/pushers", h.listPushers, admin)
	e.POST("/admin/pushers/:name/replay", h.replayPusher, admin)
	get("/admin/pushers/:name/dead-letters", h.deadLetters, admin)
	// Webhooks authenticate by signature or token (handlers/webhooks.go);
	// the routes answer 404 when not configured.
	e.POST("/webhooks/extend", h.extendWebhook, throttle)
	e.POST("/webhooks/vendre", h.vendreWebhook, throttle)
	e.POST("/retailcrm/:action", h.retailcrmCallback, d.AuthThrottle.Middleware(crmRefuse)) // checks the clientId (handlers/retailcrm.go)
	// Baselinker authenticates with bl_pass and answers in its own
	// convention; a GET is its check that the file answers.
	e.Match([]string{http.MethodGet, http.MethodHead, http.MethodPost}, "/baselinker", h.baselinker, d.AuthThrottle.Middleware(blRefuse))
	return e
}

type handler struct {
	d Deps
}

// clientIP finds a request's client address: the peer's, or, when the
// peer is a trusted proxy (loopback, link-local, private, or one of
// trusted), the right-most address in X-Forwarded-For that is not one.
func clientIP(trusted []*net.IPNet) echo.IPExtractor {
	opts := make([]echo.TrustOption, 0, len(trusted))
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// NewMetrics returns the handler of the metrics listener (METRICS_ADDR):
// GET /metrics and nothing else, errors as the contract's JSON.
func NewMetrics(metrics http.Handler, log *slog.Logger) *echo.Echo {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.HTTPErrorHandler = errorHandler(log)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}))
	e.GET("/metrics", echo.WrapHandler(metrics))
	return e
}

// newValidator returns the one validator of request parameters.
func newValidator() *structValidator {
	v := validator.New(validator.WithRequiredStructEnabled())
	_ = v.RegisterValidation("customer_no", validCustomerNo)
	_ = v.RegisterValidation("ident", validIdent)
	_ = v.RegisterValidation("ymd", validDate)
	return &structValidator{v: v}
}
