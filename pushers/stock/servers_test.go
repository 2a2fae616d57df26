package stock

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	ftpserver "goftp.io/server/v2"
	"goftp.io/server/v2/driver/file"

	"github.com/vendre-extend/gateway/retailcrm"
)

// newCRM is a RetailCRM client of the double at base, with the default
// pace of 10 calls a second.
func newCRM(t *testing.T, base, key string) *retailcrm.Client {
	t.Helper()
	c, err := retailcrm.New(retailcrm.Config{BaseURL: base, APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// quietLog silences the FTP server.
type quietLog struct{}

func (quietLog) Print(string, any)                   {}
func (quietLog) Printf(string, string, ...any)       {}
func (quietLog) PrintCommand(string, string, string) {}
func (quietLog) PrintResponse(string, int, string)   {}

// startFTP starts a real FTP server on loopback serving a temporary
// directory with a folder "stock"; it returns the sink URL and the folder.
func startFTP(t *testing.T) (string, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "stock"), 0o755); err != nil {
		t.Fatal(err)
	}
	drv, err := file.NewDriver(root)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ftpserver.NewServer(&ftpserver.Options{
		Driver: drv, Auth: &ftpserver.SimpleAuth{Name: "vendre", Password: "p@ss"},
		Perm: ftpserver.NewSimplePerm("vendre", "vendre"), Hostname: "127.0.0.1", Logger: quietLog{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "ftp://vendre:p%40ss@" + ln.Addr().String() + "/stock", filepath.Join(root, "stock")
}

// readStockDir applies every stock file in dir in name order, as Vendre
// does (last row of a product wins), and returns the stock and the number
// of files. A file still under its temporary name fails the test.
func readStockDir(t *testing.T, dir string) (map[string]int64, int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	out := map[string]int64{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 2 || f[0] == "" || f[1] == "" {
				t.Fatalf("%s: bad row %q", n, sc.Text())
			}
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || v < 0 {
				t.Fatalf("%s: bad available in %q", n, sc.Text())
			}
			out[f[0]] = v
		}
	}
	return out, len(names)
}

// crmDouble is RetailCRM's POST /api/v5/store/inventories/upload: it checks
// the key and the 250 offer cap, keeps stock per offer and store, and
// reports offers it does not know.
type crmDouble struct {
	mu       sync.Mutex
	stock    map[string]map[string]int64
	unknown  map[string]bool
	requests int
	maxOffer int
	failNext []int // statuses to answer next
}

func startCRM(t *testing.T) (*crmDouble, *httptest.Server) {
	d := &crmDouble{stock: map[string]map[string]int64{}, unknown: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v5/store/inventories/upload" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		if r.Header.Get("X-API-KEY") != "crm-key" {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"success":false,"errorMsg":"Wrong \"apiKey\" value."}`))
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.requests++
		if len(d.failNext) > 0 {
			st := d.failNext[0]
			d.failNext = d.failNext[1:]
			w.WriteHeader(st)
			w.Write([]byte(`{"success":false,"errorMsg":"injected"}`))
			return
		}
		var offers []retailcrm.Offer
		if err := json.Unmarshal([]byte(r.PostFormValue("offers")), &offers); err != nil || len(offers) > 250 {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"success":false,"errorMsg":"bad offers"}`))
			return
		}
		d.maxOffer = max(d.maxOffer, len(offers))
		type nf struct {
			ExternalID string `json:"externalId"`
		}
		ans := struct {
			Success   bool `json:"success"`
			Processed int  `json:"processedOffersCount"`
			NotFound  []nf `json:"notFoundOffers"`
		}{Success: true, NotFound: []nf{}}
		for _, o := range offers {
			if d.unknown[o.ExternalID] {
				ans.NotFound = append(ans.NotFound, nf{o.ExternalID})
				continue
			}
			if d.stock[o.ExternalID] == nil {
				d.stock[o.ExternalID] = map[string]int64{}
			}
			for _, s := range o.Stores {
				d.stock[o.ExternalID][s.Code] = s.Available
			}
			ans.Processed++
		}
		json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(srv.Close)
	return d, srv
}

// hookDouble is a generic stock webhook receiver checking X-Signature.
type hookDouble struct {
	mu       sync.Mutex
	stock    map[string]map[string]int64
	requests int
	badSig   int
	maxItems int
}

func startHook(t *testing.T, secret string) (*hookDouble, *httptest.Server) {
	d := &hookDouble{stock: map[string]map[string]int64{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.requests++
		if !hmac.Equal([]byte(r.Header.Get("X-Signature")), []byte(Sign(buf.Bytes(), []byte(secret)))) {
			d.badSig++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b WebhookBody
		if err := json.Unmarshal(buf.Bytes(), &b); err != nil || len(b.Items) > 250 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		d.maxItems = max(d.maxItems, len(b.Items))
		for _, it := range b.Items {
			if d.stock[it.ProductNo] == nil {
				d.stock[it.ProductNo] = map[string]int64{}
			}
			d.stock[it.ProductNo][it.Warehouse] = it.Available
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return d, srv
}
