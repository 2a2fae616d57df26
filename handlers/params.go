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

// Limits on what a caller controls. A date window may be as long as the
// caller likes: what a list costs depends on its page, not its window.
const (
	defaultPerPage = 25
	maxPerPage     = 100
	maxPage        = 100000
	defaultSpan    = 365 // days from "from" to "to" when from is not given
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
	"limit":       "limit must be a whole number from 1 to 100",
	"offset":      "offset must be a whole number from 0, a multiple of limit (default 25)",
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
	if p.Page, p.PerPage, err = paging(q); err != nil {
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
	return p.CustomerNo, pull.ListQuery{
		From: from.Format(dateLayout), To: to.Format(dateLayout),
		Page: p.Page, PerPage: p.PerPage,
	}, nil
}

// paging reads page/per_page, or offset/limit (offset a multiple of
// limit), as a page and its size. Both pairs at once are a 400 naming the
// second.
func paging(q url.Values) (page, perPage int, err error) {
	_, hasOffset := q["offset"]
	_, hasLimit := q["limit"]
	if !hasOffset && !hasLimit {
		if page, err = intParam(q, "page", 1); err != nil {
			return 0, 0, err
		}
		perPage, err = intParam(q, "per_page", defaultPerPage)
		return page, perPage, err
	}
	for _, name := range []string{"page", "per_page"} {
		if _, ok := q[name]; ok {
			other := "offset"
			if !hasOffset {
				other = "limit"
			}
			return 0, 0, &paramError{Param: other, Msg: fmt.Sprintf("%s and %s are two ways of paging: give page/per_page or offset/limit", name, other)}
		}
	}
	limit, err := intParam(q, "limit", defaultPerPage)
	if err != nil {
		return 0, 0, err
	}
	if limit < 1 || limit > maxPerPage {
		return 0, 0, badParam("limit")
	}
	offset, err := intParam(q, "offset", 0)
	if err != nil || offset < 0 || offset%limit != 0 || offset/limit >= maxPage {
		return 0, 0, badParam("offset")
	}
	return offset/limit + 1, limit, nil
}

// pageParams are the paging parameters of an admin list.
type pageParams struct {
	Page    int `param:"page" validate:"min=1,max=100000"`
	PerPage int `param:"per_page" validate:"min=1,max=100"`
}

// parsePage reads and checks the paging of an admin list, as paging does
// (page/per_page or offset/limit; 1 and 25 by default).
func parsePage(v *structValidator, q url.Values) (pageParams, error) {
	var p pageParams
	var err error
	if p.Page, p.PerPage, err = paging(q); err != nil {
		return p, err
	}
	return p, v.Validate(&p)
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
