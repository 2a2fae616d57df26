package handlers

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/vendre-extend/gateway/pull"
)

// dateLayout is the contract's date format.
const dateLayout = "2006-01-02"

// Limits on what a caller controls.
const (
	defaultPerPage = 25
	maxPerPage     = 100
	maxPage        = 100000
	defaultSpan    = 365 // days from "from" to "to" when from is not given
	maxSpanYears   = 3   // the longest from..to a caller may ask for
)

// listParams are the parameters of the list calls.
type listParams struct {
	CustomerNo string `param:"customer_no" validate:"required,customer_no"`
	From       string `param:"from" validate:"omitempty,ymd"`
	To         string `param:"to" validate:"omitempty,ymd"`
	Page       int    `param:"page" validate:"min=1,max=100000"`
	PerPage    int    `param:"per_page" validate:"min=1,max=100"`
}

// detailParams are the parameters of the single-record calls.
type detailParams struct {
	CustomerNo string `param:"customer_no" validate:"required,customer_no"`
	ID         string `param:"id" validate:"required,ident"`
}

// messages says, per parameter, what a valid value is.
var messages = map[string]string{
	"customer_no": "customer_no is required: 1 to 32 characters of A-Z, a-z, 0-9, - and _",
	"from":        "from must be a date as YYYY-MM-DD",
	"to":          "to must be a date as YYYY-MM-DD",
	"page":        "page must be a whole number from 1 to 100000",
	"per_page":    "per_page must be a whole number from 1 to 100",
	"id":          "id must be 1 to 64 characters of A-Z, a-z, 0-9, ., - and _",
}

// paramError is a bad request parameter; it becomes a 400 invalid_request
// whose message names the parameter.
type paramError struct {
	Param string
	Msg   string
}

func (e *paramError) Error() string { return e.Msg }

func badParam(name string) error {
	if m, ok := messages[name]; ok {
		return &paramError{Param: name, Msg: m}
	}
	return &paramError{Param: name, Msg: name + " is not valid"}
}

// single returns the one value of a query parameter; a parameter given
// twice is refused rather than guessed at.
func single(q url.Values, name string) (string, error) {
	v := q[name]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", &paramError{Param: name, Msg: name + " is given more than once"}
}

// intParam reads an optional whole-number parameter.
func intParam(q url.Values, name string, def int) (int, error) {
	s, err := single(q, name)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || len(s) > 9 {
		return 0, badParam(name)
	}
	return n, nil
}

// parseList reads and checks the parameters of a list call. Dates default
// to the year up to today in loc.
func parseList(v *structValidator, q url.Values, today time.Time) (string, pull.ListQuery, error) {
	var p listParams
	var err error
	if p.CustomerNo, err = single(q, "customer_no"); err != nil {
		return "", pull.ListQuery{}, err
	}
	if p.From, err = single(q, "from"); err != nil {
		return "", pull.ListQuery{}, err
	}
	if p.To, err = single(q, "to"); err != nil {
		return "", pull.ListQuery{}, err
	}
	if p.Page, err = intParam(q, "page", 1); err != nil {
		return "", pull.ListQuery{}, err
	}
	if p.PerPage, err = intParam(q, "per_page", defaultPerPage); err != nil {
		return "", pull.ListQuery{}, err
	}
	if err := v.Validate(&p); err != nil {
		return "", pull.ListQuery{}, err
	}
	to := today
	if p.To != "" {
		to, _ = time.Parse(dateLayout, p.To)
	}
	from := to.AddDate(0, 0, -defaultSpan)
	if p.From != "" {
		from, _ = time.Parse(dateLayout, p.From)
	}
	if from.After(to) {
		return "", pull.ListQuery{}, &paramError{Param: "from", Msg: "from must not be after to"}
	}
	if from.Before(to.AddDate(-maxSpanYears, 0, 0)) {
		return "", pull.ListQuery{}, &paramError{Param: "from", Msg: fmt.Sprintf("from and to must be at most %d years apart", maxSpanYears)}
	}
	return p.CustomerNo, pull.ListQuery{
		From: from.Format(dateLayout), To: to.Format(dateLayout),
		Page: p.Page, PerPage: p.PerPage,
	}, nil
}

// parseDetail reads and checks the parameters of a single-record call.
func parseDetail(v *structValidator, q url.Values, id string) (detailParams, error) {
	p := detailParams{ID: id}
	var err error
	if p.CustomerNo, err = single(q, "customer_no"); err != nil {
		return p, err
	}
	return p, v.Validate(&p)
}

// structValidator adapts validator/v10 to echo and to the contract's
// messages: the first failing field becomes a paramError naming it.
type structValidator struct {
	v *validator.Validate
}

// Validate checks a parameter struct.
func (sv *structValidator) Validate(i any) error {
	err := sv.v.Struct(i)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if errors.As(err, &verrs) && len(verrs) > 0 {
		f, _ := reflect.TypeOf(i).Elem().FieldByName(verrs[0].StructField())
		return badParam(f.Tag.Get("param"))
	}
	return fmt.Errorf("handlers: validate: %w", err)
}

func validCustomerNo(fl validator.FieldLevel) bool {
	return matchChars(fl.Field().String(), 32, false)
}

func validIdent(fl validator.FieldLevel) bool {
	return matchChars(fl.Field().String(), 64, true)
}

func validDate(fl validator.FieldLevel) bool {
	s := fl.Field().String()
	_, err := time.Parse(dateLayout, s)
	return err == nil && len(s) == len(dateLayout)
}

// matchChars reports whether s is 1 to max characters of A-Z a-z 0-9 - _
// (and "." when dot is set, though not first: no "..").
func matchChars(s string, max int, dot bool) bool {
	if len(s) == 0 || len(s) > max || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.' && dot:
		default:
			return false
		}
	}
	return true
}
