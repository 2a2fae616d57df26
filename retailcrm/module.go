package retailcrm

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/retry"
)

// Callback paths under the module's baseUrl (<PUBLIC_BASE_URL>/retailcrm).
const (
	// BasePath is where RetailCRM's callbacks arrive, under PUBLIC_BASE_URL.
	BasePath = "/retailcrm"
	// InventoriesUploadPath is the inventoriesUpload callback.
	InventoriesUploadPath = "/inventories-upload"
)

// CallPoints are the events at which RetailCRM calls inventoriesUpload.
// RetailCRM's list of allowed values is not public in a form we could
// check; these are our assumption (docs/retailcrm.md): stock is refreshed
// when an order is created or changed in the CRM.
var CallPoints = []string{"order_create", "order_edit"}

// ModuleName is the name the module shows in RetailCRM's marketplace.
const ModuleName = "Extend Commerce"

// WarehouseModule is the module that makes the gateway RetailCRM's
// warehouse system: code and clientId (RETAILCRM_MODULE_CODE,
// RETAILCRM_CLIENT_ID), baseUrl <publicBase>/retailcrm, and the
// inventoriesUpload callback when inventories is true (the retailcrm
// stock sink is on).
func WarehouseModule(code, clientID, publicBase string, inventories bool) Module {
	m := Module{
		Code: code, IntegrationCode: code, Active: true, Name: ModuleName,
		ClientID: clientID, BaseURL: strings.TrimRight(publicBase, "/") + BasePath,
		Actions:      map[string]string{},
		Integrations: Integrations{Store: &StoreIntegration{Actions: []Action{}}},
	}
	if inventories {
		m.Integrations.Store.Actions = append(m.Integrations.Store.Actions,
			Action{Code: "inventoriesUpload", URL: InventoriesUploadPath, CallPoints: CallPoints})
	}
	return m
}

// moduleEditor is what the Registrar needs; *Client has it.
type moduleEditor interface {
	EditModule(ctx context.Context, m Module) error
}

// RegistrarConfig configures a Registrar.
type RegistrarConfig struct {
	// Prefix of its Redis keys; "gwq:" when "".
	Prefix string
	// RetryBase and RetryMax are the retry policy between failed
	// attempts (retry.Policy); default 2s and 5m.
	RetryBase, RetryMax time.Duration
	// Budget bounds one attempt; default 30s.
	Budget time.Duration
	Logger *slog.Logger
}

// Registrar registers the module with RetailCRM at start and tries again,
// with backoff, until RetailCRM took it. It is a pusher for
// /admin/pushers ("retailcrm-module"): its last success and last error
// are kept in Redis, and Replay registers again.
type Registrar struct {
	c       moduleEditor
	m       Module
	cfg     RegistrarConfig
	rdb     redis.UniversalClient
	rec     *pushers.Recorder
	log     *slog.Logger
	poke    chan struct{}
	running atomic.Bool
}

// NewRegistrar returns a registrar of m through c.
func NewRegistrar(rdb redis.UniversalClient, c moduleEditor, m Module, cfg RegistrarConfig) *Registrar {
	if cfg.Prefix == "" {
		cfg.Prefix = "gwq:"
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 2 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registrar{c: c, m: m, cfg: cfg, rdb: rdb, log: cfg.Logger, poke: make(chan struct{}, 1),
		rec: pushers.NewRecorder(rdb, cfg.Prefix+"{retailcrm}:module:status")}
}

// Name is "retailcrm-module".
func (r *Registrar) Name() string { return "retailcrm-module" }

// registeredKey holds the fingerprint of the module last registered.
func (r *Registrar) registeredKey() string { return r.cfg.Prefix + "{retailcrm}:module:registered" }

// fingerprint identifies the module's settings without the clientId.
func (r *Registrar) fingerprint() string {
	m := r.m
	m.ClientID = ""
	b, _ := json.Marshal(m)
	h := sha256.Sum256(append(b, r.m.ClientID...))
	return hex.EncodeToString(h[:8])
}

// Register sends the registration once and records the outcome. Errors:
// ErrRejected (RetailCRM refused it: check the code, key and URL),
// ErrUnavailable.
func (r *Registrar) Register(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, r.cfg.Budget)
	err := r.c.EditModule(actx, r.m)
	cancel()
	if err != nil {
		r.rec.Failure(ctx, time.Now(), "registering module "+r.m.Code+": "+err.Error())
		return fmt.Errorf("retailcrm: register module %s: %w", r.m.Code, err)
	}
	r.rec.Success(ctx, time.Now())
	r.rdb.Set(ctx, r.registeredKey(), r.fingerprint(), 0)
	r.log.Info("retailcrm: module registered", "code", r.m.Code, "base_url", r.m.BaseURL)
	return nil
}

// Run registers at start, tries again until it worked, then waits for a
// Replay or the end of ctx; it returns nil when ctx ends.
func (r *Registrar) Run(ctx context.Context) error {
	r.running.Store(true)
	defer r.running.Store(false)
	for ctx.Err() == nil {
		for attempt := 1; ctx.Err() == nil; attempt++ {
			err := r.Register(ctx)
			if err == nil {
				break
			}
			r.log.Warn("retailcrm: module registration failed; retrying", "attempt", attempt, "err", err)
			select {
			case <-ctx.Done():
			case <-r.poke:
			case <-time.After(retry.Policy{Base: r.cfg.RetryBase, Max: r.cfg.RetryMax}.Wait(attempt)):
			}
		}
		select {
		case <-ctx.Done():
		case <-r.poke:
		}
	}
	return nil
}

// Replay asks Run to register again now.
func (r *Registrar) Replay(context.Context) error {
	select {
	case r.poke <- struct{}{}:
	default:
	}
	return nil
}

// Status is failing while the last attempt failed, idle once the module
// as configured now is registered; Backlog is 1 until then.
func (r *Registrar) Status(ctx context.Context) (pushers.Status, error) {
	st := pushers.Status{Name: r.Name()}
	if err := r.rec.Fill(ctx, &st); err != nil {
		return st, err
	}
	fp, err := r.rdb.Get(ctx, r.registeredKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return st, err
	}
	if fp != r.fingerprint() {
		st.Backlog = 1
	}
	switch {
	case !r.running.Load():
		st.State = pushers.StateOff
	case st.LastErrorAt.After(st.LastSuccess):
		st.State = pushers.StateFailing
	case st.Backlog > 0:
		st.State = pushers.StateRunning
	default:
		st.State = pushers.StateIdle
	}
	return st, nil
}

// StockSweeper pushes every product's stock again; the stock pusher has
// it.
type StockSweeper interface {
	SweepAll(ctx context.Context) error
}

// ErrNoStock: inventoriesUpload was called but no stock pusher with the
// retailcrm sink runs.
var ErrNoStock = errors.New("retailcrm: the retailcrm stock sink is off")

// Callbacks answers RetailCRM's calls to the module.
type Callbacks struct {
	id    [sha256.Size]byte
	set   bool
	stock StockSweeper
}

// NewCallbacks returns the callbacks of the module registered with
// clientID; stock nil means inventoriesUpload answers ErrNoStock.
func NewCallbacks(clientID string, stock StockSweeper) *Callbacks {
	return &Callbacks{id: sha256.Sum256([]byte(clientID)), set: clientID != "", stock: stock}
}

// ClientIDOK reports whether id is the module's clientId, in constant
// time (both sides are hashed first, so neither content nor length
// leaks).
func (c *Callbacks) ClientIDOK(id string) bool {
	got := sha256.Sum256([]byte(id))
	return c.set && id != "" && subtle.ConstantTimeCompare(got[:], c.id[:]) == 1
}

// InventoriesUpload asks the stock pusher for a full push of every
// product; it returns once that is recorded, not pushed. Errors:
// ErrNoStock, Redis failures.
func (c *Callbacks) InventoriesUpload(ctx context.Context) error {
	if c.stock == nil {
		return ErrNoStock
	}
	return c.stock.SweepAll(ctx)
}
