package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vendre-extend/gateway/retailcrm"
)

// RetailCRMConfig holds the settings of RetailCRM as an order source and
// as a registered warehouse module (docs/retailcrm.md). The account itself
// (RETAILCRM_URL, RETAILCRM_API_KEY, RETAILCRM_STORES) is in PushConfig.
type RetailCRMConfig struct {
	StatusNew      string        `env:"RETAILCRM_STATUS_NEW, default=new" help:"RetailCRM status code of orders to import"`
	StatusImported string        `env:"RETAILCRM_STATUS_IMPORTED, default=imported-to-erp" help:"RetailCRM status code set after import"`
	StatusManual   string        `env:"RETAILCRM_STATUS_MANUAL, default=manual-handling" help:"RetailCRM status code set when an order needs manual handling"`
	ERPCustomer    string        `env:"RETAILCRM_ERP_CUSTOMER" help:"Extend customer number RetailCRM's orders are booked on"`
	PollEvery      time.Duration `env:"RETAILCRM_POLL_EVERY, default=1m" help:"period of the RetailCRM order pull"`
	ModuleCode     string        `env:"RETAILCRM_MODULE_CODE" help:"code of the gateway's warehouse module in RetailCRM (unset: not registered)"`
	ClientID       string        `env:"RETAILCRM_CLIENT_ID" secret:"true" help:"clientId RetailCRM sends with its callbacks to the module (at least 16 characters)"`
}

// moduleCode is what a module code may be.
var moduleCode = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,59}$`)

// Module reports whether the warehouse module is configured.
func (c *RetailCRMConfig) Module() bool { return c.ModuleCode != "" }

// validateRetailCRM adds what is wrong with the RetailCRM settings to
// bad.
func (c *Config) validateRetailCRM(bad *problems) {
	p, crm := &c.Push, &c.CRM
	source := slices.Contains(p.OrderSources, "retailcrm")
	if (source || crm.Module()) && !slices.Contains(p.StockSinks, "retailcrm") { // else checked with the sink
		if err := checkURL(p.RetailCRMURL); err != nil {
			bad.add("RETAILCRM_URL", "%v", err)
		}
		if p.RetailCRMAPIKey == "" {
			bad.add("RETAILCRM_API_KEY", "required for the retailcrm order source and module")
		}
	}
	if source && crm.ERPCustomer == "" {
		bad.add("RETAILCRM_ERP_CUSTOMER", "required for the retailcrm order source")
	}
	c.validateModule(bad)
}

// validateModule adds what is wrong with the warehouse module's settings
// to bad.
func (c *Config) validateModule(bad *problems) {
	crm := &c.CRM
	switch {
	case crm.Module() && !moduleCode.MatchString(crm.ModuleCode):
		bad.add("RETAILCRM_MODULE_CODE", "want 1-60 of a-z 0-9 _ -, starting with a letter or digit")
	case crm.Module() && len(crm.ClientID) < 16:
		bad.add("RETAILCRM_CLIENT_ID", "required with RETAILCRM_MODULE_CODE, at least 16 characters")
	case !crm.Module() && crm.ClientID != "":
		bad.add("RETAILCRM_MODULE_CODE", "required with RETAILCRM_CLIENT_ID")
	}
	if crm.Module() && c.RedisURL == "" {
		bad.add("REDIS_URL", "required by RETAILCRM_MODULE_CODE (its callbacks feed the stock pusher)")
	}
}

// newRetailCRMClient is the one RetailCRM client of the process (its pace
// of 10 calls a second is shared by the sink, the source and the module);
// nil when nothing uses RetailCRM.
func newRetailCRMClient(cfg *Config) (*retailcrm.Client, error) {
	p := cfg.Push
	if !slices.Contains(p.StockSinks, "retailcrm") && !slices.Contains(p.OrderSources, "retailcrm") && !cfg.CRM.Module() {
		return nil, nil
	}
	c, err := retailcrm.New(retailcrm.Config{BaseURL: cfg.Push.RetailCRMURL, APIKey: cfg.Push.RetailCRMAPIKey})
	if err != nil {
		return nil, fmt.Errorf("config: RETAILCRM_URL: %w", err)
	}
	return c, nil
}

// crmStores is RETAILCRM_STORES as a map from Extend warehouse to store.
func crmStores(p PushConfig) map[string]string {
	stores := map[string]string{}
	for _, s := range p.RetailCRMStores {
		w, code, _ := strings.Cut(s, ":")
		stores[strings.TrimSpace(w)] = strings.TrimSpace(code)
	}
	return stores
}

// shipmentStore is the RetailCRM store an order ships from when it names
// none: the store of the first counted warehouse (STOCK_WAREHOUSES), else
// that of the first RETAILCRM_STORES entry, else "".
func shipmentStore(p PushConfig) string {
	if len(p.StockWarehouses) > 0 {
		w := p.StockWarehouses[0]
		if code, ok := crmStores(p)[w]; ok {
			return code
		}
		return w
	}
	if len(p.RetailCRMStores) > 0 {
		_, code, _ := strings.Cut(p.RetailCRMStores[0], ":")
		return strings.TrimSpace(code)
	}
	return ""
}

// warehouseModule is the module cfg registers.
func warehouseModule(cfg *Config) retailcrm.Module {
	return retailcrm.WarehouseModule(cfg.CRM.ModuleCode, cfg.CRM.ClientID, cfg.PublicBaseURL,
		slices.Contains(cfg.Push.StockSinks, "retailcrm"))
}

// retailcrmCmd is `gateway retailcrm register`: it registers the module
// once, now, with the configured settings, and says what it registered.
func retailcrmCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "register" {
		return errors.New("retailcrm: usage: gateway retailcrm register [settings flags]")
	}
	cfg, rest, err := parseConfig("gateway retailcrm register", args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("retailcrm: unexpected %q", rest[0])
	}
	if !cfg.CRM.Module() {
		return errors.New("retailcrm: RETAILCRM_MODULE_CODE and RETAILCRM_CLIENT_ID are required")
	}
	c, err := newRetailCRMClient(cfg)
	if err != nil {
		return err
	}
	m := warehouseModule(cfg)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.EditModule(rctx, m); err != nil {
		return fmt.Errorf("retailcrm: register module %s: %w", m.Code, err)
	}
	actions := []string{}
	for _, a := range m.Integrations.Store.Actions {
		actions = append(actions, a.Code+" at "+m.BaseURL+a.URL)
	}
	fmt.Fprintf(stdout, "registered module %s (baseUrl %s; callbacks: %s)\n", m.Code, m.BaseURL, strings.Join(actions, ", "))
	return nil
}
