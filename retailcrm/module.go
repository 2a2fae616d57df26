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
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/pushers/work"
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
	// DeadLetterRetention is how long a dead letter is kept
	// (DEAD_LETTER_RETENTION); default pushers.DefaultDeadLetterRetention.
	DeadLetterRetention time.Duration
	Logger              *slog.Logger
}

// Registrar registers the module with RetailCRM at start and tries again
// until RetailCRM took it: the registration is an item of the
// durable-work queue "retailcrm" (pushers/work), retried by the one
// retry policy and parked as a dead letter after the queue's MaxTries.
// It is a pusher for /admin/pushers ("retailcrm-module"): its status is
// the queue's, and Replay registers again.
type Registrar struct {
	c   moduleEditor
	m   Module
	cfg RegistrarConfig
	rdb redis.UniversalClient
	q   *work.Queue
	log *slog.Logger
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
	q := work.New(rdb, "retailcrm", work.Config{Prefix: cfg.Prefix, Coalesce: true,
		Visibility: cfg.Budget + 5*time.Second, RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax,
		DeadLetterRetention: cfg.DeadLetterRetention, Logger: cfg.Logger})
	return &Registrar{c: c, m: m, cfg: cfg, rdb: rdb, q: q, log: cfg.Logger}
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
		return fmt.Errorf("retailcrm: register module %s: %w", r.m.Code, err)
	}
	r.q.Success(ctx)
	r.rdb.Set(ctx, r.registeredKey(), r.fingerprint(), 0)
	r.log.Info("retailcrm: module registered", "code", r.m.Code, "base_url", r.m.BaseURL)
	return nil
}

// registration is the id of the registration's queue item.
const registration = "module"

// Run registers at start, and again (by the queue) until it worked; it
// returns nil when ctx ends.
func (r *Registrar) Run(ctx context.Context) error {
	for {
		_, err := r.q.Add(ctx, registration, time.Time{})
		if err == nil {
			break
		}
		r.log.Warn("retailcrm: cannot queue the module registration; retrying", "err", err)
		if !pushers.Sleep(ctx, 2*time.Second) {
			return nil
		}
	}
	r.q.Work(ctx, 1, func(ctx context.Context, c *work.Claim) error {
		if err := r.Register(ctx); err != nil {
			r.log.Warn("retailcrm: module registration failed; retrying", "attempt", c.Tries()+1, "err", err)
			return c.Retry(ctx, err)
		}
		_, err := c.Ack(ctx)
		return err
	})
	return nil
}

// DeadLetters is the registration, when it failed too often.
func (r *Registrar) DeadLetters() *pushers.DeadLetters { return r.q.DeadLetters() }

// Replay registers again now (a parked registration included).
func (r *Registrar) Replay(ctx context.Context) error {
	if _, err := r.q.Replay(ctx); err != nil {
		return err
	}
	_, err := r.q.Add(ctx, registration, time.Time{})
	return err
}

// Status is the queue's: failing while the last attempt failed, idle once
// the module as configured now is registered; Backlog is at least 1
// until then.
func (r *Registrar) Status(ctx context.Context) (pushers.Status, error) {
	st, err := r.q.Status(ctx)
	st.Name = r.Name()
	if err != nil {
		return st, err
	}
	fp, err := r.rdb.Get(ctx, r.registeredKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return st, err
	}
	if fp != r.fingerprint() && st.Backlog == 0 {
		st.Backlog = 1
		if st.State == pushers.StateIdle {
			st.State = pushers.StateRunning
		}
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
