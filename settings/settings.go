// Package settings fills a struct of settings from environment variables
// and flags of the same name (LISTEN_ADDR / -listen-addr; the flag wins),
// read by github.com/sethvargo/go-envconfig, and shows them in a start-up
// log with secrets masked.
//
// A field with an `env` tag is one setting: `env:"NAME, default=V"` as
// go-envconfig reads it, `help:"..."` its line in -help, `secret:"true"`
// to mask it (as is any setting whose name ends in _SECRET, _TOKEN,
// _PASSWORD, _KEY or _KEYS; a password in a URL is always masked). A
// field without the tag that is an exported struct holds more settings.
// Every setting is:
//   - trimmed of surrounding spaces; an empty variable counts as unset;
//   - a list ([]string) when comma-separated, empty items dropped;
//   - a positive duration when a time.Duration.
package settings

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Parse fills target, a pointer to a struct of settings, from getenv and
// then from args (flags, declared on a FlagSet called name that writes
// its usage to out). err is the flags' error (flag.ErrHelp for -h); bad
// lists every setting that does not decode, one error each naming its
// variable. rest is what follows the flags.
func Parse(name string, target any, args []string, getenv func(string) string, out io.Writer) (rest []string, bad []error, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	given := map[string]string{}
	for _, s := range Of(target) {
		usage := s.Help + " ($" + s.Env + ")"
		if s.Default != "" {
			usage += " (default " + s.Default + ")"
		}
		set := func(v string) error { given[s.Env] = v; return nil }
		if s.Value.Kind() == reflect.Bool {
			fs.BoolFunc(FlagName(s.Env), usage, set)
		} else {
			fs.Func(FlagName(s.Env), usage, set)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	look := envconfig.LookuperFunc(func(key string) (string, bool) {
		if v, ok := given[key]; ok {
			return v, true
		}
		v := getenv(key)
		return v, v != "" // an empty variable counts as unset
	})
	return fs.Args(), decode(target, look), nil
}

// Setting is one field of a struct of settings, as flags, errors and the
// log see it.
type Setting struct {
	Env, Default, Help string
	Secret             bool
	Value              reflect.Value // the field
}

// Of lists target's settings in the order of the struct, nested structs
// included.
func Of(target any) []Setting {
	var out []Setting
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			f, fv := t.Field(i), v.Field(i)
			tag, ok := f.Tag.Lookup("env")
			if !ok {
				if f.IsExported() && fv.Kind() == reflect.Struct {
					walk(fv)
				}
				continue
			}
			env, opts, _ := strings.Cut(tag, ",")
			env = strings.TrimSpace(env)
			_, def, _ := strings.Cut(opts, "default=")
			out = append(out, Setting{
				Env: env, Default: def, Help: f.Tag.Get("help"), Value: fv,
				Secret: f.Tag.Get("secret") == "true" || secretName(env),
			})
		}
	}
	walk(reflect.ValueOf(target).Elem())
	return out
}

// secretName reports whether a variable's name says it holds a secret.
func secretName(env string) bool {
	for _, s := range []string{"_SECRET", "_TOKEN", "_PASSWORD", "_KEY", "_KEYS"} {
		if strings.HasSuffix(env, s) {
			return true
		}
	}
	return false
}

// FlagName turns LISTEN_ADDR into listen-addr.
func FlagName(env string) string {
	return strings.ToLower(strings.ReplaceAll(env, "_", "-"))
}

// decode fills target from look and returns one error per setting that
// does not decode. go-envconfig stops at the first bad value, so decode
// notes which variable it was, reads again with that one at its default,
// and so on until all decode: every bad value is reported at once.
func decode(target any, look envconfig.Lookuper) []error {
	trim := envconfig.MutatorFunc(func(_ context.Context, _, _, _, v string) (string, bool, error) {
		return strings.TrimSpace(v), false, nil
	})
	v := reflect.ValueOf(target).Elem()
	var errs []error
	skip := map[string]bool{}
	for {
		var last, lastVal string
		l := envconfig.LookuperFunc(func(key string) (string, bool) {
			if skip[key] {
				return "", false
			}
			v, ok := look.Lookup(key)
			last, lastVal = key, v
			return v, ok
		})
		v.Set(reflect.Zero(v.Type()))
		err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: target, Lookuper: l, Mutators: []envconfig.Mutator{trim}})
		if err == nil {
			break
		}
		if last == "" || skip[last] { // a default that does not decode: a bug of the caller's
			return append(errs, fmt.Errorf("config: %w", err))
		}
		skip[last] = true
		errs = append(errs, fmt.Errorf("config: %s: %s", last, decodeProblem(target, last, strings.TrimSpace(lastVal), err)))
	}
	for _, s := range Of(target) {
		switch v := s.Value.Addr().Interface().(type) {
		case *[]string:
			*v = dropEmpty(*v)
		case *time.Duration:
			if *v <= 0 {
				errs = append(errs, fmt.Errorf("config: %s: want a positive duration such as 30s or 5m, got %s", s.Env, v))
			}
		}
	}
	return errs
}

// decodeProblem says what is wrong with val, the value of env.
func decodeProblem(target any, env, val string, err error) string {
	for _, s := range Of(target) {
		if s.Env != env {
			continue
		}
		switch s.Value.Interface().(type) {
		case time.Duration:
			return fmt.Sprintf("want a positive duration such as 30s or 5m, got %q", val)
		case int:
			return fmt.Sprintf("want a whole number, got %q", val)
		case bool:
			return fmt.Sprintf("want true or false, got %q", val)
		}
	}
	for errors.Unwrap(err) != nil {
		err = errors.Unwrap(err)
	}
	return err.Error()
}

func dropEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Log lists target's settings for a start-up log, as key-value pairs: each
// variable's name in lower case, and its value, secrets masked.
func Log(target any) []any {
	var out []any
	for _, s := range Of(target) {
		out = append(out, strings.ToLower(s.Env), logged(s))
	}
	return out
}

// logged is a setting's value as the log shows it.
func logged(s Setting) any {
	switch v := s.Value.Interface().(type) {
	case string:
		if s.Secret && v != "" {
			return "***"
		}
		return RedactURL(v)
	case []string:
		if s.Secret {
			return fmt.Sprintf("%d set, masked", len(v))
		}
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = RedactURL(x)
		}
		return out
	case fmt.Stringer:
		return v.String()
	}
	if s.Secret {
		return "***"
	}
	return s.Value.Interface()
}

// RedactURL hides the password of a URL; any other text is kept.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
		u.User = url.User("xxxxx") // a token as the user name (redis://token@host)
		return u.String()
	}
	return raw
}
