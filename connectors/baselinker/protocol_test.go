package baselinker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/connectors/baselinker"
	"github.com/vendre-extend/gateway/connectors/baselinker/baselinkersim"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

func wantError(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var e *baselinkersim.Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code || e.Text == "" {
		t.Errorf("%s: error = %v, want %d %s with a text", what, err, status, code)
	}
}

// TestRefusals: a wrong or missing bl_pass, a missing or unknown action,
// a body that is too large or not a form each get the documented error,
// and nothing reaches Extend.
func TestRefusals(t *testing.T) {
	e := setup(t, options{noRedis: true})
	ctx := context.Background()
	wrong := baselinkersim.New(e.url, "not-the-password")
	_, err := wrong.Call(ctx, "ProductsList", nil)
	wantError(t, "wrong bl_pass", err, 401, baselinker.CodeBadPassword)
	_, err = e.bl.Post(ctx, url.Values{"action": {"FileVersion"}}.Encode())
	wantError(t, "no bl_pass", err, 401, baselinker.CodeNoPassword)
	_, err = e.bl.Post(ctx, url.Values{"bl_pass": {password}}.Encode())
	wantError(t, "no action", err, 422, baselinker.CodeNoAction)
	_, err = e.bl.Call(ctx, "DeleteEverything", nil)
	wantError(t, "unknown action", err, 422, baselinker.CodeUnsupportedAction)
	_, err = e.bl.Post(ctx, "bl_pass="+password+"&action=FileVersion&pad="+strings.Repeat("x", baselinker.MaxBody))
	wantError(t, "too large", err, 413, baselinker.CodeTooLarge)
	_, err = e.bl.Post(ctx, "bl_pass="+password+"&action=FileVersion&bad=%zz")
	wantError(t, "not a form", err, 422, baselinker.CodeInvalidRequest)
	_, err = e.bl.Call(ctx, "ProductsList", url.Values{"page": {"0"}, "filter_sort": {"colour"}})
	wantError(t, "bad parameters", err, 422, baselinker.CodeInvalidRequest)
	if e.erpCalls() != 0 {
		t.Errorf("refused calls made %d ERP calls, want 0", e.erpCalls())
	}

	// Baselinker checking that the file answers: a GET.
	res, err := http.Get(e.url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"error_code":"no_password"`) {
		t.Errorf("GET = %d %s, want 200 and no_password", res.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPut, e.url, nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 405 {
		t.Errorf("PUT = %v, %v; want 405", res, err)
	}
	// Without Redis the order actions say why.
	_, err = e.bl.Call(ctx, "OrdersGet", url.Values{"id_from": {"1"}})
	wantError(t, "orders without Redis", err, 503, baselinker.CodeOrdersOff)
}

// TestProtocol: the answers of the protocol's own actions, in golden
// files.
func TestProtocol(t *testing.T) {
	e := setup(t, options{noRedis: true})
	ctx := context.Background()
	for _, action := range []string{"FileVersion", "SupportedMethods", "StatusesList", "DeliveryMethodsList", "PaymentMethodsList"} {
		raw, err := e.bl.Call(ctx, action, nil)
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		golden(t, action, raw)
	}
	v, err := e.bl.FileVersion(ctx)
	if err != nil || v.Standard != baselinker.Standard || v.Platform == "" {
		t.Errorf("FileVersion = %+v, %v", v, err)
	}
	methods, err := e.bl.SupportedMethods(ctx)
	want := []string{"FileVersion", "SupportedMethods", "ProductsCategories", "ProductsList", "ProductsData", "ProductsDetails",
		"ProductsPrices", "ProductsQuantity", "OrderAdd", "OrdersGet", "OrderUpdate", "StatusesList",
		"DeliveryMethodsList", "PaymentMethodsList"}
	if diff := cmp.Diff(want, methods); err != nil || diff != "" {
		t.Errorf("SupportedMethods (-want +got): %v\n%s", err, diff)
	}
	for _, m := range methods { // every method it names answers
		if _, err := e.bl.Call(ctx, m, nil); err != nil {
			var be *baselinkersim.Error
			if !errors.As(err, &be) || be.Code == baselinker.CodeUnsupportedAction {
				t.Errorf("%s: %v", m, err)
			}
		}
	}
	_ = extendsim.FixedProducts
}
