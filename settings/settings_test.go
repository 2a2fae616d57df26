package settings_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/settings"
)

type inner struct {
	Token string `env:"INNER_TOKEN" help:"a token"`
}

type config struct {
	Addr  string        `env:"ADDR, default=:8080" help:"where to listen"`
	Every time.Duration `env:"EVERY, default=1m" help:"a period"`
	N     int           `env:"N, default=3" help:"a count"`
	List  []string      `env:"LIST" help:"a list"`
	Pass  string        `env:"PASS" secret:"true" help:"a password"`
	URL   string        `env:"SOME_URL" help:"a URL"`
	Inner inner
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParse(t *testing.T) {
	var c config
	rest, bad, err := settings.Parse("t", &c, []string{"-addr", ":9090", "tail"},
		env(map[string]string{"ADDR": ":7070", "LIST": " a, ,b ", "N": " 5 ", "INNER_TOKEN": "tok"}), io.Discard)
	if err != nil || len(bad) > 0 {
		t.Fatalf("Parse: %v %v", err, bad)
	}
	if c.Addr != ":9090" || c.N != 5 || strings.Join(c.List, "|") != "a|b" || c.Every != time.Minute || c.Inner.Token != "tok" {
		t.Errorf("Parse = %+v, want the flag over the variable, trimmed values, defaults", c)
	}
	if len(rest) != 1 || rest[0] != "tail" {
		t.Errorf("rest = %q, want [tail]", rest)
	}
}

// TestParseEveryBadValue: every setting that does not decode is named, at
// once, one error each.
func TestParseEveryBadValue(t *testing.T) {
	var c config
	_, bad, err := settings.Parse("t", &c, nil, env(map[string]string{"EVERY": "soon", "N": "many"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(bad)
	if len(bad) != 2 || !strings.Contains(got, "config: EVERY: want a positive duration") || !strings.Contains(got, `config: N: want a whole number, got "many"`) {
		t.Errorf("bad = %v, want EVERY and N named", bad)
	}
}

func TestLogMasks(t *testing.T) {
	c := config{Pass: "hunter2-secret", URL: "redis://u:pw-secret@host/0", Inner: inner{Token: "tok-secret"}}
	line := fmt.Sprint(settings.Log(&c)...)
	if strings.Contains(line, "secret") {
		t.Errorf("Log shows a secret: %s", line)
	}
	for _, k := range []string{"addr", "every", "n", "list", "pass", "some_url", "inner_token"} {
		if !strings.Contains(line, k) {
			t.Errorf("Log lacks %s: %s", k, line)
		}
	}
}
