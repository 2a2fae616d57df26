// Package crmsim is a simulated RetailCRM for tests: the module
// registration, the inventories upload, the order list and the order edit
// of API v5, as docs/retailcrm.md describes them. It records what it was
// sent, so a test can check every payload, and it can call the registered
// module back (inventoriesUpload) the way RetailCRM does.
package crmsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// APIKey is the key the simulated account accepts in X-API-KEY.
const APIKey = "crm-test-key" // #nosec G101 -- the test double's own key, not a credential

// Server is the simulated RetailCRM. It is safe for concurrent use.
type Server struct {
	mu       sync.Mutex
	modules  map[string]json.RawMessage
	modEdits int
	known    map[string]bool // offer externalIds the CRM has; nil: every offer
	uploads  [][]UploadedOffer
	orders   map[int]*order
	edits    map[int][]map[string]any
	failNext []int
	failEdit []int
	routes   map[string]string // public base URL -> where it is served
	mux      *http.ServeMux
}

type order struct {
	raw    map[string]any
	status string
}

// UploadedOffer is one offer of an inventories upload as received.
type UploadedOffer struct {
	ExternalID string `json:"externalId"`
	Stores     []struct {
		Code          string   `json:"code"`
		Available     float64  `json:"available"`
		PurchasePrice *float64 `json:"purchasePrice"`
	} `json:"stores"`
}

// New returns an empty RetailCRM that knows every offer.
func New() *Server {
	s := &Server{modules: map[string]json.RawMessage{}, orders: map[int]*order{}, edits: map[int][]map[string]any{}}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /api/v5/integration-modules/{code}/edit", s.auth(s.editModule))
	s.mux.HandleFunc("POST /api/v5/store/inventories/upload", s.auth(s.upload))
	s.mux.HandleFunc("GET /api/v5/orders", s.auth(s.list))
	s.mux.HandleFunc("POST /api/v5/orders/{id}/edit", s.auth(s.editOrder))
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// FailNext makes the next n API calls answer status (e.g. 503).
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, status)
	}
}

// FailEdits makes the next n order edits answer status.
func (s *Server) FailEdits(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failEdit = append(s.failEdit, status)
	}
}

// Route makes callbacks to URLs under public go to actual instead, as a
// TLS-terminating proxy in front of the gateway would (the gateway's
// PUBLIC_BASE_URL is https://, the test's server is not).
func (s *Server) Route(public, actual string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.routes == nil {
		s.routes = map[string]string{}
	}
	s.routes[strings.TrimRight(public, "/")] = strings.TrimRight(actual, "/")
}

// SetKnownOffers limits the offers the CRM knows; others come back in
// notFoundOffers.
func (s *Server) SetKnownOffers(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known = map[string]bool{}
	for _, id := range ids {
		s.known[id] = true
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"success": false, "errorMsg": msg})
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-KEY") != APIKey {
			fail(w, http.StatusForbidden, "Wrong \"apiKey\" value.")
			return
		}
		s.mu.Lock()
		var status int
		if len(s.failNext) > 0 {
			status, s.failNext = s.failNext[0], s.failNext[1:]
		}
		s.mu.Unlock()
		if status != 0 {
			fail(w, status, "simulated failure")
			return
		}
		h(w, r)
	}
}

func (s *Server) editModule(w http.ResponseWriter, r *http.Request) {
	raw := r.PostFormValue("integrationModule")
	var m struct {
		Code     string `json:"code"`
		ClientID string `json:"clientId"`
		BaseURL  string `json:"baseUrl"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m.ClientID == "" || m.BaseURL == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "errorMsg": "Errors in the entity format",
			"errors": map[string]string{"integrationModule": "code, clientId and baseUrl are required"}})
		return
	}
	s.mu.Lock()
	s.modules[r.PathValue("code")] = json.RawMessage(raw)
	s.modEdits++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
}

// Module returns the module registered under code as it was sent, and how
// many registrations (of any code) arrived.
func (s *Server) Module(code string) (json.RawMessage, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modules[code], s.modEdits
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	var offers []UploadedOffer
	if err := json.Unmarshal([]byte(r.PostFormValue("offers")), &offers); err != nil {
		fail(w, http.StatusBadRequest, "Parameter 'offers' is not a JSON array")
		return
	}
	if len(offers) > 250 {
		fail(w, http.StatusBadRequest, "Too many offers: at most 250")
		return
	}
	s.mu.Lock()
	s.uploads = append(s.uploads, offers)
	var nf []map[string]string
	for _, o := range offers {
		if s.known != nil && !s.known[o.ExternalID] {
			nf = append(nf, map[string]string{"externalId": o.ExternalID})
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "processedOffersCount": len(offers) - len(nf), "notFoundOffers": nf})
}

// Uploads returns every inventories upload received, in order.
func (s *Server) Uploads() [][]UploadedOffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads)
}

// Callback calls the registered module's inventoriesUpload action the way
// RetailCRM does: POST baseUrl+url with the form field clientId (the
// registered one unless clientID is given). It returns the status and
// body of the answer.
func (s *Server) Callback(ctx context.Context, code string, clientID *string) (int, string, error) {
	s.mu.Lock()
	raw := s.modules[code]
	routes := s.routes
	s.mu.Unlock()
	var m struct {
		ClientID     string `json:"clientId"`
		BaseURL      string `json:"baseUrl"`
		Integrations struct {
			Store struct {
				Actions []struct {
					Code string `json:"code"`
					URL  string `json:"url"`
				} `json:"actions"`
			} `json:"store"`
		} `json:"integrations"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, "", fmt.Errorf("crmsim: no module %q registered", code)
	}
	path := ""
	for _, a := range m.Integrations.Store.Actions {
		if a.Code == "inventoriesUpload" {
			path = a.URL
		}
	}
	if path == "" {
		return 0, "", fmt.Errorf("crmsim: module %q has no inventoriesUpload action", code)
	}
	id := m.ClientID
	if clientID != nil {
		id = *clientID
	}
	form := url.Values{}
	if id != "" {
		form.Set("clientId", id)
	}
	target := m.BaseURL + path
	for public, actual := range routes {
		if strings.HasPrefix(target, public+"/") {
			target = actual + strings.TrimPrefix(target, public)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := res.Body.Read(buf)
	b.Write(buf[:n])
	return res.StatusCode, b.String(), nil
}

// AddOrder adds an order with RetailCRM id id in status, with one item of
// offer sku (its externalId), quantity 2 at 100.00 with 5.00 off a unit.
func (s *Server) AddOrder(id int, status, sku string) {
	o := map[string]any{
		"id": id, "number": fmt.Sprintf("%dC", id), "externalId": nil, "status": status,
		"createdAt": "2026-11-20 10:00:00", "currency": "SEK", "firstName": "Anna", "lastName": "Berg",
		"shipmentStore": "",
		"customer":      map[string]any{"id": 9000 + id, "firstName": "Anna", "lastName": "Berg"},
		"delivery": map[string]any{"cost": 49.0, "address": map[string]any{
			"countryIso": "SE", "index": "111 22", "city": "Stockholm", "text": "Storgatan 1"}},
		"items": []map[string]any{{"offer": map[string]any{"externalId": sku}, "quantity": 2,
			"initialPrice": 100.0, "discountTotal": 5.0}},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders[id] = &order{raw: o, status: status}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	statuses := q["filter[extendedStatus][]"]
	page, _ := strconv.Atoi(q.Get("page"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if page < 1 {
		page = 1
	}
	if !slices.Contains([]int{20, 50, 100}, limit) {
		limit = 20
	}
	s.mu.Lock()
	ids := make([]int, 0, len(s.orders))
	for id, o := range s.orders {
		if len(statuses) == 0 || slices.Contains(statuses, o.status) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	total := (len(ids) + limit - 1) / limit
	var out []map[string]any
	for _, id := range ids[min((page-1)*limit, len(ids)):min(page*limit, len(ids))] {
		o := s.orders[id]
		o.raw["status"] = o.status
		out = append(out, o.raw)
	}
	b, _ := json.Marshal(map[string]any{"success": true, "orders": out,
		"pagination": map[string]any{"limit": limit, "totalCount": len(ids), "currentPage": page, "totalPageCount": total}})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *Server) editOrder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	by := r.URL.Query().Get("by")
	if by == "" {
		by = r.PostFormValue("by")
	}
	var fields map[string]any
	if err != nil || by != "id" || json.Unmarshal([]byte(r.PostFormValue("order")), &fields) != nil {
		fail(w, http.StatusBadRequest, "by=id and a JSON order are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failEdit) > 0 {
		status := s.failEdit[0]
		s.failEdit = s.failEdit[1:]
		fail(w, status, "simulated failure")
		return
	}
	o, ok := s.orders[id]
	if !ok {
		fail(w, http.StatusNotFound, "Not found")
		return
	}
	if st, ok := fields["status"].(string); ok {
		o.status = st
	}
	if d, ok := fields["shipmentDate"].(string); ok {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			fail(w, http.StatusBadRequest, "shipmentDate must be Y-m-d")
			return
		}
	}
	s.edits[id] = append(s.edits[id], fields)
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "id": id})
}

// Status returns the order's status.
func (s *Server) Status(id int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[id]; ok {
		return o.status
	}
	return ""
}

// Edits returns every edit each order received, in order (the decoded
// form field order).
func (s *Server) Edits() map[int][]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int][]map[string]any, len(s.edits))
	for id, e := range s.edits {
		out[id] = slices.Clone(e)
	}
	return out
}
