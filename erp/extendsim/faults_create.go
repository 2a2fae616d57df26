package extendsim

import (
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// CreateFaults makes a share of POST /CustomerOrders fail, the way a real
// ERP behind a network fails: some before the order is created (nothing
// happened), some after (the order exists, but the caller never learns
// its number). The second kind is what makes "create exactly once" hard.
type CreateFaults struct {
	// Rate is the share of creates that fail, 0 to 1.
	Rate float64
	// After is the share of failing creates that create the order first,
	// 0 to 1.
	After float64
	// Hang is the share of failing creates that answer nothing until the
	// caller gives up (a timeout), 0 to 1; the rest answer 503.
	Hang float64
	// Seed makes the choice of which creates fail repeatable.
	Seed uint64
}

// createFaults is the state of SetCreateFaults.
type createFaults struct {
	mu  sync.Mutex
	cfg CreateFaults
	rnd *rand.Rand
}

// SetCreateFaults makes creates fail as f says (the zero value: none).
// Unlike FailNext, a fault "after" creates the order and then fails.
func (s *Server) SetCreateFaults(f CreateFaults) {
	s.creates.mu.Lock()
	defer s.creates.mu.Unlock()
	s.creates.cfg = f
	s.creates.rnd = rand.New(rand.NewPCG(f.Seed, 0x5eed)) // #nosec G404 -- reproducible fault injection, not security
}

// draw decides the fate of one create.
func (c *createFaults) draw() (fail, after, hang bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rnd == nil || c.cfg.Rate <= 0 || c.rnd.Float64() >= c.cfg.Rate {
		return false, false, false
	}
	return true, c.rnd.Float64() < c.cfg.After, c.rnd.Float64() < c.cfg.Hang
}

// discard is a ResponseWriter that drops the answer of a create whose
// caller must not learn it.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// createOrderFaulty is createOrder with the faults of SetCreateFaults.
func (s *Server) createOrderFaulty(w http.ResponseWriter, r *http.Request) {
	fail, after, hang := s.creates.draw()
	if !fail {
		s.createOrder(w, r)
		return
	}
	if after {
		s.createOrder(&discard{h: http.Header{}}, r)
	}
	if hang {
		// Read the body to its end: only then does the server notice the
		// caller hanging up (and end r's context).
		io.Copy(io.Discard, r.Body)
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
	writeFault(w, http.StatusServiceUnavailable)
}

// ExternalOrderCounts reports, for every ExternalOrderNumber, how many
// orders carry it: a count above 1 is a duplicate a client created.
func (s *Server) ExternalOrderCounts() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]int{}
	for _, rec := range s.orders {
		if ext := rec.o.ExternalOrderNumber; ext != "" {
			out[ext]++
		}
	}
	return out
}
