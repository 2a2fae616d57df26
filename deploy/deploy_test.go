package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization we use; decoding
// strictly into it fails on a misspelt or unsupported field.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
		IncludeTemplates bool              `json:"includeTemplates,omitempty"`
	} `json:"labels,omitempty"`
	Resources []string `json:"resources,omitempty"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
	ConfigMapGenerator []generator `json:"configMapGenerator,omitempty"`
	SecretGenerator    []generator `json:"secretGenerator,omitempty"`
	Patches            []struct {
		Path   string            `json:"path,omitempty"`
		Patch  string            `json:"patch,omitempty"`
		Target map[string]string `json:"target,omitempty"`
	} `json:"patches,omitempty"`
}

type generator struct {
	Name     string   `json:"name"`
	Behavior string   `json:"behavior,omitempty"`
	Literals []string `json:"literals,omitempty"`
	Envs     []string `json:"envs,omitempty"`
	Files    []string `json:"files,omitempty"`
}

// object is one decoded Kubernetes object with where it came from.
type object struct {
	where string
	kind  string
	v     any
}

// decodeObject decodes one YAML document strictly into its k8s.io/api
// type by apiVersion and kind: an unknown field, a wrong type or an
// unknown kind fails.
func decodeObject(where string, doc []byte) (object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := sigsyaml.Unmarshal(doc, &head); err != nil {
		return object{}, fmt.Errorf("%s: %w", where, err)
	}
	var v any
	switch head.APIVersion + " " + head.Kind {
	case "apps/v1 Deployment":
		v = &appsv1.Deployment{}
	case "v1 Service":
		v = &corev1.Service{}
	case "v1 ConfigMap":
		v = &corev1.ConfigMap{}
	case "v1 Secret":
		v = &corev1.Secret{}
	case "v1 Namespace":
		v = &corev1.Namespace{}
	case "policy/v1 PodDisruptionBudget":
		v = &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		v = &autoscalingv2.HorizontalPodAutoscaler{}
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		v = &kustomization{}
	default:
		return object{}, fmt.Errorf("%s: unexpected apiVersion %q kind %q", where, head.APIVersion, head.Kind)
	}
	if err := sigsyaml.UnmarshalStrict(doc, v); err != nil {
		return object{}, fmt.Errorf("%s: %s: %w", where, head.Kind, err)
	}
	return object{where: where, kind: head.Kind, v: v}, nil
}

// splitDocs splits a YAML stream into its non-empty documents.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	return regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(s, "")
}

// manifests decodes every YAML file under base/ and overlays/.
func manifests(t *testing.T) []object {
	t.Helper()
	var objs []object
	for _, dir := range []string{"base", "overlays"} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, doc := range splitDocs(b) {
				o, err := decodeObject(fmt.Sprintf("%s#%d", path, i), doc)
				if err != nil {
					t.Error(err)
					continue
				}
				objs = append(objs, o)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return objs
}

// TestManifestsStrict decodes every object of every manifest into its
// Kubernetes type, then checks what the operations contract asks of the
// Deployment.
func TestManifestsStrict(t *testing.T) {
	objs := manifests(t)
	if len(objs) == 0 {
		t.Fatal("no manifests found")
	}
	var dep *appsv1.Deployment
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.kind] = true
		if d, ok := o.v.(*appsv1.Deployment); ok && o.where == "base/deployment.yaml#0" {
			dep = d
		}
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Kustomization"} {
		if !kinds[k] {
			t.Errorf("no %s among the manifests", k)
		}
	}
	if dep == nil {
		t.Fatal("base/deployment.yaml holds no Deployment")
	}
	checkDeployment(t, dep)
}

func checkDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("pod does not set runAsNonRoot: true")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("liveness probe is not GET /healthz")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("readiness probe is not GET /readyz")
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("container does not set readOnlyRootFilesystem: true")
	}
	if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("container does not set allowPrivilegeEscalation: false")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("container lacks cpu/memory requests or a memory limit")
	}
	var refs []string
	for _, e := range c.EnvFrom {
		switch {
		case e.ConfigMapRef != nil:
			refs = append(refs, "ConfigMap/"+e.ConfigMapRef.Name)
		case e.SecretRef != nil:
			refs = append(refs, "Secret/"+e.SecretRef.Name)
		}
	}
	if !slices.Contains(refs, "ConfigMap/gateway-config") || !slices.Contains(refs, "Secret/gateway-secrets") {
		t.Errorf("envFrom = %v, want the gateway-config ConfigMap and gateway-secrets Secret", refs)
	}
}

// TestSettingsKnown: every key of the ConfigMap and Secret is a setting
// of the gateway (a field of Config in cmd/gateway) or an OTEL_* variable, so a
// misspelt setting fails here instead of being silently ignored.
func TestSettingsKnown(t *testing.T) {
	known := map[string]bool{}
	for _, f := range []string{"config.go", "pushers.go"} {
		src, err := os.ReadFile(filepath.Join("..", "cmd", "gateway", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`env:"([A-Z][A-Z0-9_]+)`).FindAllStringSubmatch(string(src), -1) {
			known[m[1]] = true
		}
	}
	if !known["EXTEND_BASE_URL"] {
		t.Fatalf("found no settings in cmd/gateway/config.go (%d)", len(known))
	}
	check := func(where, key string) {
		if !known[key] && !strings.HasPrefix(key, "OTEL_") {
			t.Errorf("%s: %s is not a setting of the gateway", where, key)
		}
	}
	for _, o := range manifests(t) {
		switch v := o.v.(type) {
		case *corev1.ConfigMap:
			for k := range v.Data {
				check(o.where, k)
			}
		case *corev1.Secret:
			for k := range v.StringData {
				check(o.where, k)
			}
		}
	}
	env, err := os.ReadFile("gateway.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(env)) {
		if k, _, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(k, "#") {
			check("gateway.env.example", k)
		}
	}
}

// kustomizeBin finds kustomize on PATH or in GOPATH/bin (go install). It
// skips the test when there is none, unless CI=true or REQUIRE_KUSTOMIZE
// is set: then it fails.
func kustomizeBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("kustomize"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "kustomize")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "kustomize is not installed (go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1)"
	if os.Getenv("CI") == "true" || os.Getenv("REQUIRE_KUSTOMIZE") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestKustomizeBuild renders the base and every overlay with kustomize and
// decodes what it prints strictly, as the cluster would receive it.
func TestKustomizeBuild(t *testing.T) {
	bin := kustomizeBin(t)
	dirs := []string{"base"}
	overlays, _ := filepath.Glob("overlays/*")
	dirs = append(dirs, overlays...)
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "build", dir)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
			}
			var deps int
			for i, doc := range splitDocs(out) {
				o, err := decodeObject(fmt.Sprintf("kustomize build %s #%d", dir, i), doc)
				if err != nil {
					t.Error(err)
					continue
				}
				if d, ok := o.v.(*appsv1.Deployment); ok {
					deps++
					checkDeployment(t, d)
				}
			}
			if deps != 1 {
				t.Errorf("kustomize build %s: %d Deployments, want 1", dir, deps)
			}
		})
	}
}

// knownMetrics are the metric families the gateway exports (the contract's
// Metrics section, and a few more of telemetry's).
var knownMetrics = map[string]bool{
	"http_server_request_duration_seconds": true,
	"gateway_cache_requests_total":         true,
	"gateway_cache_coalesced_total":        true,
	"gateway_cache_fills_total":            true,
	"gateway_erp_requests_total":           true,
	"gateway_erp_request_duration_seconds": true,
	"gateway_erp_circuit_open":             true,
	"gateway_webhooks_total":               true,
	"gateway_pusher_backlog":               true,
	"gateway_pusher_dead_letters":          true,
	"gateway_pusher_batches_total":         true,
}

var metricRef = regexp.MustCompile(`\b(?:gateway|http_server)_[a-z0-9_]+`)

// checkExpr checks that a PromQL expression's parentheses balance and that
// it names only metrics the gateway exports.
func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	depth := 0
	for _, r := range expr {
		switch r {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
		if depth < 0 {
			break
		}
	}
	if depth != 0 {
		t.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
	refs := metricRef.FindAllString(expr, -1)
	if len(refs) == 0 {
		t.Errorf("%s: %q names no gateway metric", where, expr)
	}
	for _, m := range refs {
		base := m
		for _, suf := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(m, suf); ok && knownMetrics[b] {
				base = b
			}
		}
		if !knownMetrics[base] {
			t.Errorf("%s: %q names %s, which the gateway does not export", where, expr, m)
		}
	}
}

// TestAlertRules parses the rule file strictly (Prometheus's rule file
// fields only) and checks every rule; promtool checks it too where it is
// installed.
func TestAlertRules(t *testing.T) {
	const path = "prometheus/alerts.yaml"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name     string `yaml:"name"`
			Interval string `yaml:"interval,omitempty"`
			Rules    []struct {
				Alert         string            `yaml:"alert,omitempty"`
				Record        string            `yaml:"record,omitempty"`
				Expr          string            `yaml:"expr"`
				For           string            `yaml:"for,omitempty"`
				KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
				Labels        map[string]string `yaml:"labels,omitempty"`
				Annotations   map[string]string `yaml:"annotations,omitempty"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("%s: group %q has no name or no rules", path, g.Name)
		}
		for _, r := range g.Rules {
			where := path + ": " + r.Alert
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("%s: empty or repeated alert name", where)
			}
			seen[r.Alert] = true
			checkExpr(t, where, r.Expr)
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for: %v", where, err)
				}
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", where, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", where)
			}
		}
	}
	for _, want := range []string{"GatewayERPDown", "GatewayServingStale", "GatewayPusherBacklogGrowing", "GatewayPusherDeadLetters", "GatewayHighErrorRate"} {
		if !seen[want] {
			t.Errorf("%s: no alert %s", path, want)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed; checked by this test only")
	}
}

// TestDashboard parses the Grafana dashboard and checks that every panel
// queries metrics the gateway exports, and that every metric of the
// contract has a panel.
func TestDashboard(t *testing.T) {
	const path = "grafana/gateway-dashboard.json"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: no uid, title or panels", path)
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("%s: panel id %d repeated", path, p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", path, p.Title)
		}
		for _, tg := range p.Targets {
			checkExpr(t, path+": "+p.Title, tg.Expr)
			for _, m := range metricRef.FindAllString(tg.Expr, -1) {
				used[strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count")] = true
			}
		}
	}
	for m := range knownMetrics {
		if !used[m] && m != "gateway_cache_fills_total" && m != "gateway_pusher_batches_total" {
			t.Errorf("%s: no panel shows %s", path, m)
		}
	}
}

// TestCompose checks the single-host compose file: the gateway and Redis,
// the gateway read-only, non-root, pointed at that Redis.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	gw, redis := c.Services["gateway"], c.Services["redis"]
	if gw == nil || redis == nil {
		t.Fatalf("services = %v, want gateway and redis", c.Services)
	}
	if gw["read_only"] != true || gw["user"] == nil {
		t.Errorf("gateway: read_only %v, user %v; want read-only and non-root", gw["read_only"], gw["user"])
	}
	env, _ := gw["environment"].(map[string]any)
	if u, _ := env["REDIS_URL"].(string); !strings.Contains(u, "redis:6379") {
		t.Errorf("gateway REDIS_URL = %q, want the compose Redis", u)
	}
}
