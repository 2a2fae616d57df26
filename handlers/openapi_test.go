package handlers_test

import (
	"regexp"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/api"
)

// TestOpenAPIMatchesRouter keeps api/openapi.yaml true: every route the
// router serves is documented, and every documented operation that is not
// marked planned is served. HEAD is served beside every GET (RFC 9110),
// which the document says once rather than on every path.
func TestOpenAPIMatchesRouter(t *testing.T) {
	ev := newEnv(t)
	ev.e.Match([]string{"GET", "HEAD"}, "/metrics", nil) // served when metrics are wired (cmd/gateway)
	param := regexp.MustCompile(`:([a-z_]+)`)
	var served []string
	for _, r := range ev.e.Routes() {
		if r.Method == "echo_route_not_found" {
			continue
		}
		served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	ops, err := api.Operations()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, op := range ops {
		if !op.Planned {
			documented = append(documented, op.Method+" "+op.Path)
			if op.Method == "GET" {
				documented = append(documented, "HEAD "+op.Path)
			}
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	if diff := cmp.Diff(documented, served); diff != "" {
		t.Errorf("openapi.yaml (-) and router (+) differ:\n%s", diff)
	}
}
