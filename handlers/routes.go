// Package handlers is the gateway's HTTP surface: every route, the
// middleware, and the one HTTPErrorHandler that turns errors into the
// contract's JSON errors.
package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pull"
)

// Puller answers the pull calls; *pull.Service has it.
type Puller interface {
	OrderList(ctx context.Context, customerNo string, q pull.ListQuery) (pull.Answer, error)
	Order(ctx context.Context, customerNo, id string) (pull.Answer, error)
	InvoiceList(ctx context.Context, customerNo string, q pull.ListQuery) (pull.Answer, error)
	Invoice(ctx context.Context, customerNo, id string) (pull.Answer, error)
	Document(ctx context.Context, token string) (*erp.Document, error)
	ERPDown() bool
	FlushCustomer(ctx context.Context, customerNo string) (int, error)
	FlushAll(ctx context.Context) (int, error)
}

// Pinger checks a dependency (Redis) for readiness.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is what the handlers are built from.
type Deps struct {
	Pull       Puller
	Redis      Pinger // nil: no Redis configured
	APIKeys    []string
	AdminToken string // "": admin endpoints answer 404
	Location   *time.Location
	Logger     *slog.Logger
	Now        func() time.Time // nil: time.Now
	Metrics    http.Handler     // nil: /metrics answers 404
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
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}))
	e.Use(requestLog(d.Logger))

	h := &handler{d: d}
	// Middleware goes on each route rather than on a group: a group's
	// middleware would turn 405 (wrong method) into 404.
	key := APIKey(APIKeyConfig{Keys: d.APIKeys})
	e.GET("/v1/orders", h.orderList, key)
	e.GET("/v1/orders/:id", h.order, key)
	e.GET("/v1/invoices", h.invoiceList, key)
	e.GET("/v1/invoices/:id", h.invoice, key)
	e.GET("/v1/documents/:token", h.document)

	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	if d.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(d.Metrics))
	}
	admin := BearerToken(d.AdminToken)
	e.POST("/admin/cache/flush", h.flush, admin)
	return e
}

type handler struct {
	d Deps
}

// newValidator returns the one validator of request parameters.
func newValidator() *structValidator {
	v := validator.New(validator.WithRequiredStructEnabled())
	_ = v.RegisterValidation("customer_no", validCustomerNo)
	_ = v.RegisterValidation("ident", validIdent)
	_ = v.RegisterValidation("ymd", validDate)
	return &structValidator{v: v}
}
