package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/retailcrm"
)

// crmStock counts full sweeps asked for; err is what it answers.
type crmStock struct {
	n   int
	err error
}

func (s *crmStock) SweepAll(context.Context) error {
	if s.err != nil {
		return s.err
	}
	s.n++
	return nil
}

func TestRetailCRMCallback(t *testing.T) {
	const id = "crm-client-id-0123456789"
	stock := &crmStock{}
	e := handlers.New(handlers.Deps{RetailCRM: retailcrm.NewCallbacks(id, stock)})
	tests := []struct {
		name, path, body string
		stockErr         error
		status           int
		answer           string
		sweeps           int
	}{
		{"right clientId", "/retailcrm/inventories-upload", "clientId=" + id, nil, 200, `{"success":true}`, 1},
		{"wrong clientId", "/retailcrm/inventories-upload", "clientId=nope", nil, 401, `{"success":false,"errorMsg":"wrong or missing clientId"}`, 0},
		{"missing clientId", "/retailcrm/inventories-upload", "", nil, 401, `"success":false`, 0},
		{"clientId in the query only", "/retailcrm/inventories-upload?clientId=" + id, "", nil, 401, `"success":false`, 0},
		{"unknown action", "/retailcrm/orders-ship", "clientId=" + id, nil, 404, `"success":false`, 0},
		{"redis down", "/retailcrm/inventories-upload", "clientId=" + id, errors.New("down"), 503, `"success":false`, 0},
		{"too large", "/retailcrm/inventories-upload", "clientId=" + id + "&x=" + strings.Repeat("a", 70<<10), nil, 413, `"success":false`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stock.n, stock.err = 0, tt.stockErr
			req := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.answer) || stock.n != tt.sweeps {
				t.Errorf("POST %s = %d %s (%d sweeps), want %d %s (%d)", tt.path, rec.Code, rec.Body, stock.n, tt.status, tt.answer, tt.sweeps)
			}
		})
	}

	off := handlers.New(handlers.Deps{})
	rec := httptest.NewRecorder()
	off.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/retailcrm/inventories-upload", strings.NewReader("clientId=x")))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unconfigured: status %d, want 404", rec.Code)
	}
}
