// Package e2e runs the gateway binary as a real child process against a
// private Redis, a simulated Extend Commerce and a simulated xSale, and
// kills it with SIGKILL while it works: what was acknowledged must not be
// lost, and nothing may happen twice.
//
// They run only when asked: E2E=1 for short runs, E2E_FULL=1 (make e2e)
// for the counts of issue 6: 1,000 webhook deliveries and 500 shop orders.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// gatewayBinary builds cmd/gateway once per test run.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gateway-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/gateway").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// startRedis starts a private redis-server on a free port (no persistence:
// only the gateway is killed here) and returns its URL and a client.
func startRedis(t *testing.T) (string, *redis.Client) {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("REQUIRE_REDIS") == "1" {
			t.Fatal("REQUIRE_REDIS=1 but redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	port := freePort(t)
	cmd := exec.Command(path, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	opts, _ := redis.ParseURL(url)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("private redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return url, rdb
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// gateway is the child process, restartable on the same address.
type gateway struct {
	t      *testing.T
	bin    string
	env    []string
	addr   string
	log    *os.File
	cmd    *exec.Cmd
	starts int
}

func newGateway(t *testing.T, env map[string]string) *gateway {
	t.Helper()
	g := &gateway{t: t, bin: gatewayBinary(t), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	env["LISTEN_ADDR"] = g.addr
	for k, v := range env {
		g.env = append(g.env, k+"="+v)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	g.log = f
	t.Cleanup(func() {
		g.kill()
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			lines := strings.Split(string(b), "\n")
			t.Logf("gateway log (last lines):\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return g
}

// start runs the gateway and waits until it answers /healthz.
func (g *gateway) start() {
	g.t.Helper()
	g.cmd = exec.Command(g.bin)
	g.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, g.env...)
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.starts++
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + g.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatal("gateway did not become healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (g *gateway) kill() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGKILL)
	g.cmd.Wait()
	g.cmd = nil
}

// url is the gateway's base URL.
func (g *gateway) url() string { return "http://" + g.addr }

func full() bool { return os.Getenv("E2E_FULL") == "1" }

// requireE2E skips unless E2E=1 or E2E_FULL=1: building and killing the
// binary takes a minute or two, more than `make test` may spend; the same
// logic runs in process in pushers/... and webhook on every `make test`.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("E2E") != "1" && !full() {
		t.Skip("e2e: set E2E=1 (short) or E2E_FULL=1 (issue 6's counts), or run make e2e")
	}
}

// waitFor polls cond until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMain removes the built binary after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
