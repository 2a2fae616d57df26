// Package xsalesim is a simulated xSale for tests: the OAuth password
// grant, GET /{org}/statuses, GET /{org}/orders (filters statusnamein,
// statusidin, createdfrom, createdto, channelidin; pages page and pageSize
// of at most 100) and PUT /{org}/orders/{id}/change-status, as
// docs/xsale.md describes them. It counts list calls and status changes so
// a test can check every order was told its outcome once.
package xsalesim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// Credentials the token endpoint accepts.
const (
	ClientID     = "xsale-client"
	ClientSecret = "xsale-secret"
	Username     = "api-user"
	Password     = "api-pass"
	Org          = "Futuriti_test"
	accessToken  = "xs-access"
	idToken      = "xs-id"
)

// Statuses are the sample statuses: id -> name.
var Statuses = map[int]string{1: "Nowe", 2: "Zaimportowano do ERP", 3: "Do obsługi ręcznej", 4: "Wysłane"}

// Server is the simulated xSale. It is safe for concurrent use.
type Server struct {
	mu      sync.Mutex
	orders  map[int]json.RawMessage
	status  map[int]int
	changes map[int][]int // order -> status ids set, in order
	created map[int]string
	channel map[int]int
	lists   int
	mux     *http.ServeMux
}

// New returns an empty xSale.
func New() *Server {
	s := &Server{orders: map[int]json.RawMessage{}, status: map[int]int{}, changes: map[int][]int{},
		created: map[int]string{}, channel: map[int]int{}}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /oauth/token", s.token)
	s.mux.HandleFunc("GET /{org}/statuses", s.auth(s.statuses))
	s.mux.HandleFunc("GET /{org}/orders", s.auth(s.list))
	s.mux.HandleFunc("PUT /{org}/orders/{id}/change-status", s.auth(s.change))
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// AddOrder adds an order in status "Nowe", created 2026-11-20 on channel
// 1. country is its delivery CountryCode; sku its one article.
func (s *Server) AddOrder(id int, sku, country string) {
	s.AddOrderOn(id, sku, country, "2026-11-20T10:00:00Z", 1)
}

// AddOrderOn adds an order in status "Nowe" created at created (RFC 3339)
// on sales channel channel.
func (s *Server) AddOrderOn(id int, sku, country, created string, channel int) {
	o := map[string]any{
		"Id": id, "Number": fmt.Sprintf("XS/%d", id), "Created": created, "ChannelId": channel, "Currency": "SEK",
		"ShippingCost": 15.0,
		"DeliveryAddress": map[string]any{"Name": "Jan Kowalski", "Street": "ul. Prosta 1", "ZipCode": "00-001",
			"City": "Warszawa", "CountryCode": country},
		"OrderItemArticles": []map[string]any{{"Sku": sku, "Name": "Artykuł", "Quantity": 1, "Price": 99.5}},
	}
	b, _ := json.Marshal(o)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders[id] = b
	s.status[id] = 1
	s.created[id] = created
	s.channel[id] = channel
}

// Lists is how many order list calls were answered.
func (s *Server) Lists() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

// Status returns the name of the order's status.
func (s *Server) Status(id int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Statuses[s.status[id]]
}

// Changes returns how many change-status calls each order got.
func (s *Server) Changes() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for id, c := range s.changes {
		out[id] = len(c)
	}
	return out
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("grant_type") != "password" || r.PostFormValue("client_id") != ClientID ||
		r.PostFormValue("client_secret") != ClientSecret || r.PostFormValue("username") != Username ||
		r.PostFormValue("password") != Password {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": accessToken, "id_token": idToken,
		"expires_in": 86400, "token_type": "Bearer"})
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+accessToken || r.Header.Get("x-id-token") != idToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.PathValue("org") != Org {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		h(w, r)
	}
}

func (s *Server) statuses(w http.ResponseWriter, _ *http.Request) {
	var out []map[string]any
	for id, n := range Statuses {
		out = append(out, map[string]any{"Id": id, "Name": n})
	}
	json.NewEncoder(w).Encode(out)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	names := q["statusnamein"]
	var ids, channels []int
	for _, v := range q["statusidin"] {
		n, _ := strconv.Atoi(v)
		ids = append(ids, n)
	}
	for _, v := range q["channelidin"] {
		n, _ := strconv.Atoi(v)
		channels = append(channels, n)
	}
	from, to := q.Get("createdfrom"), q.Get("createdto")
	page, size := 1, 0 // no page asked: everything
	if q.Has("page") {
		var err error
		page, err = strconv.Atoi(q.Get("page"))
		size, _ = strconv.Atoi(q.Get("pageSize"))
		if err != nil || page < 1 || size < 1 || size > 100 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	sel := make([]int, 0, len(s.orders))
	for id := range s.orders {
		switch {
		case len(names) > 0 && !slices.Contains(names, Statuses[s.status[id]]),
			len(ids) > 0 && !slices.Contains(ids, s.status[id]),
			len(channels) > 0 && !slices.Contains(channels, s.channel[id]),
			from != "" && s.created[id][:10] < from,
			to != "" && s.created[id][:10] > to:
			continue
		}
		sel = append(sel, id)
	}
	slices.Sort(sel)
	if size > 0 {
		sel = sel[min((page-1)*size, len(sel)):min(page*size, len(sel))]
	}
	out := make([]json.RawMessage, 0, len(sel))
	for _, id := range sel {
		out = append(out, s.orders[id])
	}
	json.NewEncoder(w).Encode(out)
}

func (s *Server) change(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	var body struct {
		StatusID int `json:"StatusId"`
	}
	if err != nil || json.NewDecoder(r.Body).Decode(&body) != nil || Statuses[body.StatusID] == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orders[id]; !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	s.status[id] = body.StatusID
	s.changes[id] = append(s.changes[id], body.StatusID)
	w.WriteHeader(http.StatusNoContent)
}
