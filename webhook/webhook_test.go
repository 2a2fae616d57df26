package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/pushers/work"
)

// TestVerifyDocumentedVector checks the test vector published on Extend's
// webhooks page (signature section; re-computed with openssl).
func TestVerifyDocumentedVector(t *testing.T) {
	body := []byte(`{'test':'test2'}`)
	const sig = "sha256=25FB6994568A75CD233E04BA1C653AF1BF476041CC543AF04F82CAAC482C201A"
	if got := Sign(body, "secret123"); got != sig {
		t.Fatalf("Sign = %s, want %s", got, sig)
	}
	tests := []struct {
		name    string
		header  string
		secrets []string
		want    bool
	}{
		{"documented", sig, []string{"secret123"}, true},
		{"lower-case hex", strings.ToLower(sig), []string{"secret123"}, true},
		{"upper-case prefix", "SHA256=" + sig[7:], []string{"secret123"}, true},
		{"second secret of a rotation", sig, []string{"new-secret", "secret123"}, true},
		{"wrong secret", sig, []string{"secret124"}, false},
		{"no secrets", sig, nil, false},
		{"missing", "", []string{"secret123"}, false},
		{"no prefix", sig[7:], []string{"secret123"}, false},
		{"not hex", "sha256=zz", []string{"secret123"}, false},
		{"truncated", sig[:len(sig)-2], []string{"secret123"}, false},
		{"one bit off", sig[:len(sig)-1] + "B", []string{"secret123"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(body, tt.header, tt.secrets); got != tt.want {
				t.Errorf("Verify(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func delivery(id, action, details string) []byte {
	return []byte(fmt.Sprintf(`{"Id":"%032x","Attempt":1,"Properties":{"NotificationId":%q},"Notifications":[{"Action":%q,"Details":%s}]}`,
		len(id), id, action, details))
}

// counting is an Observer that counts outcomes.
type counting struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counting) Webhook(source, action, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[source+"/"+action+"/"+outcome]++
}

func (c *counting) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func TestIntake(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	obs := &counting{}
	in := NewIntake(rdb, []string{"s3cret"}, Options{Prefix: prefix, Observer: obs})
	ctx := context.Background()
	body := delivery("n-1", "OrderPicked", `{"OrderNumber":"1001"}`)

	tests := []struct {
		name    string
		body    []byte
		sig     string
		wantErr error
		dup     bool
		xlen    int64
	}{
		{"bad signature records nothing", body, Sign(body, "other"), ErrSignature, false, 0},
		{"missing signature", body, "", ErrSignature, false, 0},
		{"signed non-JSON", []byte("not json"), Sign([]byte("not json"), "s3cret"), ErrPayload, false, 0},
		{"signed JSON without Notifications", []byte(`{"Id":"x"}`), Sign([]byte(`{"Id":"x"}`), "s3cret"), ErrPayload, false, 0},
		{"too large", make([]byte, MaxBody+1), "", ErrTooLarge, false, 0},
		{"recorded", body, Sign(body, "s3cret"), nil, false, 1},
		{"redelivery", body, Sign(body, "s3cret"), nil, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := in.Receive(ctx, tt.body, tt.sig)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Receive err = %v, want %v", err, tt.wantErr)
			}
			if rc.Duplicate != tt.dup {
				t.Errorf("Duplicate = %v, want %v", rc.Duplicate, tt.dup)
			}
			if n := rdb.ZCard(ctx, prefix+"{wh}:due").Val(); n != tt.xlen {
				t.Errorf("deliveries queued = %d, want %d", n, tt.xlen)
			}
		})
	}
	if got := obs.get("extend/OrderPicked/duplicate"); got != 1 {
		t.Errorf("duplicate count = %d, want 1", got)
	}

	noRedis := NewIntake(nil, []string{"s3cret"}, Options{})
	if _, err := noRedis.Receive(ctx, body, Sign(body, "s3cret")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("without Redis: err = %v, want ErrUnavailable", err)
	}
}

// refresher records what it was asked to refresh; failOrders makes
// OrderChanged fail transiently for those orders.
type refresher struct {
	mu         sync.Mutex
	orders     map[string]int
	invoices   map[string]int
	stock      map[string]int
	customers  map[string]int
	failOrders map[string]bool
	refreshes  int // order refreshes asked with the Refresh class
}

func newRefresher() *refresher {
	return &refresher{orders: map[string]int{}, invoices: map[string]int{}, stock: map[string]int{}, customers: map[string]int{}, failOrders: map[string]bool{}}
}

func (r *refresher) OrderChanged(ctx context.Context, n string, _ bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if erp.ClassOf(ctx) == erp.Refresh {
		r.refreshes++
	}
	if n == "404" {
		return fmt.Errorf("pull: %w", erp.ErrNotFound)
	}
	if r.failOrders[n] {
		return fmt.Errorf("pull: %w", erp.ErrUnavailable)
	}
	r.orders[n]++
	return nil
}

func (r *refresher) InvoiceChanged(_ context.Context, n string, _ bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invoices[n]++
	return nil
}

func (r *refresher) StockChanged(_ context.Context, p string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stock[p]++
	return nil
}

func (r *refresher) FlushCustomer(_ context.Context, c string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.customers[c]++
	return 0, nil
}

func (r *refresher) count(m map[string]int, k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m[k]
}

type balances struct {
	mu sync.Mutex
	m  map[string]int
}

func (b *balances) BalanceChanged(_ context.Context, p, w string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]int{}
	}
	b.m[p+"@"+w]++
	return nil
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConsumerAppliesOnce(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := Options{Prefix: prefix}
	in := NewIntake(rdb, []string{"k"}, opts)
	ref, bal := newRefresher(), &balances{}
	c := NewConsumer(rdb, ref, bal, ConsumerOptions{Options: opts, Intake: in, Workers: 2, Poll: 50 * time.Millisecond,
		ReclaimAfter: 100 * time.Millisecond, MaxAttempts: 3})
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()

	send := func(b []byte) {
		t.Helper()
		if _, err := in.Receive(ctx, b, Sign(b, "k")); err != nil {
			t.Fatal(err)
		}
	}
	send(delivery("a", "OrderPicked", `{"OrderNumber":"1001"}`))
	send(delivery("a", "OrderPicked", `{"OrderNumber":"1001"}`)) // redelivery
	send(delivery("b", "CustomerInvoiceChanged", `{"InvoiceNumber":"5001"}`))
	send(delivery("c", "AvailableBalanceChanged", `{"ProductNumber":"SK-1","Warehouse":"HUV","AvailableBalance":"5 324"}`))
	send(delivery("d", "OrderPicked", `{"OrderNumber":"404"}`))    // the ERP has no such order: ignored
	send(delivery("e", "ProductCreated", `{"ProductNumber":"X"}`)) // not used: acknowledged
	ref.mu.Lock()
	ref.failOrders["7"] = true
	ref.mu.Unlock()
	send(delivery("f", "OrderCreated", `{"OrderNumber":"7"}`)) // fails every time: dead letter

	waitFor(t, "all applied or parked", func() bool {
		st, err := c.Status(ctx)
		return err == nil && st.Backlog == 0 && st.DeadLetters == 1
	})
	ref.mu.Lock()
	if ref.refreshes == 0 {
		t.Error("order refreshes were not marked erp.Refresh: they would spend the budget of callers who wait")
	}
	ref.mu.Unlock()
	if n := ref.count(ref.orders, "1001"); n != 1 {
		t.Errorf("order 1001 refreshed %d times, want 1", n)
	}
	if n := ref.count(ref.invoices, "5001"); n != 1 {
		t.Errorf("invoice 5001 refreshed %d times, want 1", n)
	}
	if n := ref.count(ref.stock, "SK-1"); n != 1 {
		t.Errorf("stock of SK-1 refreshed %d times, want 1", n)
	}
	bal.mu.Lock()
	if n := bal.m["SK-1@HUV"]; n != 1 {
		t.Errorf("balance events = %d, want 1", n)
	}
	bal.mu.Unlock()
	applied, _, err := c.Applied(ctx)
	if err != nil || applied != 5 {
		t.Errorf("Applied = %d, %v; want 5 (a, b, c, d, e)", applied, err)
	}

	// Replay after the cause is fixed applies the dead letter.
	ref.mu.Lock()
	ref.failOrders["7"] = false
	ref.mu.Unlock()
	if err := c.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replayed dead letter applied", func() bool { return ref.count(ref.orders, "7") == 1 })
	st, _ := c.Status(ctx)
	if st.DeadLetters != 0 {
		t.Errorf("dead letters after replay = %d, want 0", st.DeadLetters)
	}
	cancel()
	<-done
}

// TestConsumerReclaims: a delivery claimed by a replica that died (never
// acknowledged) is taken over by another once its claim lapsed, and
// applied once.
func TestConsumerReclaims(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := Options{Prefix: prefix}
	in := NewIntake(rdb, []string{"k"}, opts)
	b := delivery("z", "OrderReserved", `{"OrderNumber":"42"}`)
	if _, err := in.Receive(ctx, b, Sign(b, "k")); err != nil {
		t.Fatal(err)
	}
	// The crashed replica: it claimed the delivery and died.
	dead := work.New(rdb, queueName, work.Config{Prefix: prefix, Visibility: 60 * time.Millisecond})
	if cl, err := dead.Claim(ctx); err != nil || cl == nil {
		t.Fatalf("Claim = %v, %v", cl, err)
	}
	ref := newRefresher()
	c := NewConsumer(rdb, ref, nil, ConsumerOptions{Options: opts, Workers: 1, Poll: 20 * time.Millisecond,
		ReclaimAfter: 60 * time.Millisecond})
	go c.Run(ctx)
	waitFor(t, "reclaimed delivery applied", func() bool { return ref.count(ref.orders, "42") == 1 })
	waitFor(t, "queue empty", func() bool { return rdb.ZCard(ctx, prefix+"{wh}:due").Val() == 0 })
	if applied, _, err := c.Applied(ctx); err != nil || applied != 1 {
		t.Errorf("Applied = %d, %v; want 1", applied, err)
	}
}

// picks counts OrderPicked events; it fails the first fail ones.
type picks struct {
	mu   sync.Mutex
	m    map[string]int
	fail int
}

func (p *picks) OrderPicked(_ context.Context, n string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("redis down")
	}
	p.m[n]++
	return nil
}

// TestConsumerPicks: OrderPicked reaches Picks (other order events do
// not); a Picks failure leaves the delivery to be tried again, so the
// event is not lost.
func TestConsumerPicks(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := Options{Prefix: prefix}
	in := NewIntake(rdb, []string{"k"}, opts)
	pk := &picks{m: map[string]int{}, fail: 2}
	c := NewConsumer(rdb, newRefresher(), nil, ConsumerOptions{Options: opts, Picks: pk, Workers: 1,
		Poll: 20 * time.Millisecond, ReclaimAfter: 60 * time.Millisecond})
	go c.Run(ctx)
	for _, d := range [][]byte{
		delivery("p1", "OrderPicked", `{"OrderNumber":"1001"}`),
		delivery("p2", "OrderReserved", `{"OrderNumber":"1002"}`),
	} {
		if _, err := in.Receive(ctx, d, Sign(d, "k")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "queue empty", func() bool { return rdb.ZCard(ctx, prefix+"{wh}:due").Val() == 0 })
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.m["1001"] != 1 || pk.m["1002"] != 0 {
		t.Errorf("picks = %v, want 1001 once and 1002 never", pk.m)
	}
}

// TestConsumerDrainsLegacyStream: deliveries an earlier release recorded
// in its stream, and its dead letters, are applied after the upgrade.
func TestConsumerDrainsLegacyStream(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := prefix + "{wh}:stream"
	b := delivery("old-1", "OrderReserved", `{"OrderNumber":"77"}`)
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"n", "old-1", "body", string(b), "at", 1}})
	rdb.XGroupCreateMkStream(ctx, stream, "gateway", "0")
	dead := delivery("old-2", "OrderReserved", `{"OrderNumber":"78"}`)
	data, _ := json.Marshal(map[string]string{"n": "old-2", "body": string(dead)})
	pushers.NewDeadLetters(rdb, prefix+"{wh}:dead", 0).Add(ctx, pushers.DeadLetter{ID: "old-2", At: time.Now(), Reason: "x", Data: data})

	ref := newRefresher()
	c := NewConsumer(rdb, ref, nil, ConsumerOptions{Options: Options{Prefix: prefix}, Workers: 1, Poll: 20 * time.Millisecond})
	go c.Run(ctx)
	waitFor(t, "both applied", func() bool { return ref.count(ref.orders, "77") == 1 && ref.count(ref.orders, "78") == 1 })
	if n := rdb.Exists(ctx, stream).Val(); n != 0 {
		t.Error("the legacy stream is still there")
	}
	if st, _ := c.Status(ctx); st.DeadLetters != 0 {
		t.Errorf("dead letters = %d, want 0", st.DeadLetters)
	}
}
