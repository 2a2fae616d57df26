package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/erp/extendsim"
)

const webhookSecret = "e2e-webhook-secret"

// Secrets of the e2e gateways: outside demo mode each must have 16
// characters or more, and the simulator's client secret is shorter, so
// DOCUMENT_SECRET is set.
const (
	apiKey         = "e2e-api-key-0123456789"
	adminToken     = "e2e-admin-token-0123456789"
	documentSecret = "e2e-document-secret-0123456789"
)

// fetchCounter counts GET /CustomerOrders/{n} per order in front of the
// simulated ERP.
type fetchCounter struct {
	h  http.Handler
	mu sync.Mutex
	n  map[string]int
}

func (f *fetchCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/CustomerOrders/") {
		f.mu.Lock()
		f.n[strings.TrimPrefix(r.URL.Path, "/CustomerOrders/")]++
		f.mu.Unlock()
	}
	f.h.ServeHTTP(w, r)
}

func signed(body []byte) string {
	m := hmac.New(sha256.New, []byte(webhookSecret))
	m.Write(body)
	return "sha256=" + strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// deliver POSTs one delivery until the gateway answers 2xx, as Extend
// does (a failed delivery is sent again); it returns the tries it took.
func deliver(t *testing.T, url string, body []byte) int {
	deadline := time.Now().Add(60 * time.Second)
	for try := 1; ; try++ {
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/extend", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("ms-signature", signed(body))
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode/100 == 2 {
				return try
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("delivery never accepted: %v", err)
			return try
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhooksSurviveKill: deliveries (10 % of them redeliveries of an
// earlier notification) while the gateway is SIGKILLed and restarted;
// every distinct notification is applied exactly once.
func TestWebhooksSurviveKill(t *testing.T) {
	requireE2E(t)
	deliveries, kills := 200, 1
	if full() {
		deliveries, kills = 1000, 2
	}
	distinct := deliveries * 9 / 10
	redisURL, rdb := startRedis(t)
	// The simulated ERP plays an Extend with a larger agreement than the
	// standard 300 a minute, so that thousands of refreshes finish within
	// the test; a merchant with such an agreement sets EXTEND_RATE_LIMIT to
	// it, as below.
	sim := extendsim.New(extendsim.Options{Customers: 250, Limit: 100000, Window: time.Minute})
	counter := &fetchCounter{h: sim, n: map[string]int{}}
	erpSrv := httptest.NewServer(counter)
	defer erpSrv.Close()
	var orders []string
	for _, c := range sim.CustomerNumbers() {
		orders = append(orders, sim.OrderNumbers(c)...)
	}
	if len(orders) < distinct {
		t.Fatalf("the simulated ERP has %d orders, want %d", len(orders), distinct)
	}

	g := newGateway(t, map[string]string{
		"EXTEND_BASE_URL": erpSrv.URL, "PUBLIC_BASE_URL": "https://gateway.e2e.test", "EXTEND_CLIENT_ID": extendsim.DefaultClientID,
		"EXTEND_CLIENT_SECRET": extendsim.DefaultClientSecret, "EXTEND_TIMEOUT": "2s",
		"REDIS_URL": redisURL, "VENDRE_API_KEYS": apiKey, "EXTEND_WEBHOOK_SECRET": "old-webhook-secret-0123," + webhookSecret,
		"DOCUMENT_SECRET":   documentSecret,
		"EXTEND_RATE_LIMIT": "100000/1m", "LOG_LEVEL": "warn",
	})
	g.start()

	// The plan: each distinct notification names its own order; 10 %
	// more deliveries repeat an earlier one (Attempt 2). They announce
	// new orders, the one change the gateway fetches at once (to learn
	// whose it is; docs/cache.md), so that the ERP's fetches show each
	// notification applied once.
	rnd := rand.New(rand.NewPCG(3, 4))
	type job struct {
		n       int
		attempt int
	}
	type keyed struct {
		key float64
		j   job
	}
	var ks []keyed
	for i := range distinct {
		ks = append(ks, keyed{float64(i), job{n: i, attempt: 1}})
	}
	for range deliveries - distinct { // each redelivery comes after its first delivery
		n := rnd.IntN(distinct)
		ks = append(ks, keyed{float64(n) + 0.5 + rnd.Float64()*float64(distinct-n), job{n: n, attempt: 2}})
	}
	sort.Slice(ks, func(a, b int) bool { return ks[a].key < ks[b].key })
	plan := make([]job, len(ks))
	for i, k := range ks {
		plan[i] = k.j
	}
	body := func(j job) []byte {
		return []byte(fmt.Sprintf(`{"Id":"%032x","Attempt":%d,"Properties":{"NotificationId":"00000000-0000-4000-8000-%012d"},`+
			`"Notifications":[{"Action":"OrderCreated","Details":{"OrderNumber":%q}}]}`, j.n*10+j.attempt, j.attempt, j.n, orders[j.n]))
	}

	start := time.Now()
	var sent, tries atomic.Int64
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				tries.Add(int64(deliver(t, g.url(), body(j))))
				sent.Add(1)
			}
		}()
	}
	killAt := map[int]bool{}
	for k := 1; k <= kills; k++ {
		killAt[len(plan)*k/(kills+1)] = true
	}
	for i, j := range plan {
		if killAt[i] {
			// Let the senders get ahead, then kill mid-flight.
			for sent.Load() < int64(i)-8 {
				time.Sleep(5 * time.Millisecond)
			}
			g.kill()
			g.start()
		}
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	acked := time.Since(start)

	ctx := context.Background()
	applied := func() int64 {
		n, _ := strconv.ParseInt(rdb.HGet(ctx, "gwq:{wh}:status", "acked").Val(), 10, 64)
		return n
	}
	waitFor(t, 90*time.Second, "every notification applied", func() bool {
		return applied() >= int64(distinct) && rdb.ZCard(ctx, "gwq:{wh}:due").Val() == 0
	})
	elapsed := time.Since(start)
	if got := applied(); got != int64(distinct) {
		t.Errorf("applied %d notifications, want exactly %d", got, distinct)
	}
	missing, extra := 0, 0
	counter.mu.Lock()
	for i := range distinct {
		switch c := counter.n[orders[i]]; {
		case c == 0:
			missing++
		case c > 1:
			extra += c - 1
		}
	}
	counter.mu.Unlock()
	if missing > 0 {
		t.Errorf("%d notifications never fetched their order", missing)
	}
	dups, _ := strconv.ParseInt(rdb.HGet(ctx, "gwq:{wh}:status", "duplicates").Val(), 10, 64)
	t.Logf("%d deliveries (%d distinct notifications, %d redeliveries), gateway SIGKILLed %d times: "+
		"all acknowledged after %v (%d POSTs, retries included), all applied after %v; applied %d, "+
		"recognised as redeliveries %d; order fetches beyond one per notification: %d "+
		"(a kill between applying and acknowledging; the refresh is idempotent)",
		len(plan), distinct, len(plan)-distinct, kills, acked.Round(time.Millisecond), tries.Load(),
		elapsed.Round(time.Millisecond), applied(), dups, extra)
}
