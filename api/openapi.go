package api

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// OpenAPI is the OpenAPI 3.1 document of every endpoint in the contract
// (openapi.yaml), as served to readers and checked against the router.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Operation is one method on one path of the OpenAPI document.
type Operation struct {
	Method string // upper case: GET, POST, ...
	Path   string // as written in the document, e.g. /v1/orders/{id}
	// Planned is true for an operation the contract lists but later work
	// builds (x-gateway-planned: true); the router need not have it yet.
	Planned bool
}

// methods are the OpenAPI 3.1 path item fields that hold an operation.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Operations returns every operation of OpenAPI, sorted by path and then
// method. It fails only when the embedded document is not valid YAML of the
// expected shape.
func Operations() ([]Operation, error) {
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	var ops []Operation
	for path, item := range doc.Paths {
		for _, m := range methods {
			node, ok := item[m]
			if !ok {
				continue
			}
			var op struct {
				Planned bool `yaml:"x-gateway-planned"`
			}
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("api: openapi.yaml: %s %s: %w", strings.ToUpper(m), path, err)
			}
			ops = append(ops, Operation{Method: strings.ToUpper(m), Path: path, Planned: op.Planned})
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops, nil
}
