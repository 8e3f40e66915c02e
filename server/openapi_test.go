package server

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIMatchesRoutes keeps docs/openapi.yaml and the API's routes in
// step: every route registered is documented, every documented route is
// registered, each path parameter is declared, and every $ref resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("openapi version %q, want 3.1.x", v)
	}
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("docs/openapi.yaml has no paths")
	}

	methods := []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}
	var documented []string
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for _, m := range methods {
			op, ok := ops[m].(map[string]any)
			if !ok {
				continue
			}
			documented = append(documented, strings.ToUpper(m)+" "+path)
			declared := paramNames(ops["parameters"], doc)
			declared = append(declared, paramNames(op["parameters"], doc)...)
			for _, wild := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(path, -1) {
				if !slices.Contains(declared, wild[1]) {
					t.Errorf("%s %s: path parameter %s is not declared", m, path, wild[1])
				}
			}
			if _, ok := op["responses"].(map[string]any)["200"]; !ok {
				t.Errorf("%s %s: no 200 response", m, path)
			}
		}
	}
	// /metrics is served beside the API, under its authentication, and
	// documented in the same file.
	registered := []string{"GET " + metricsPath}
	for _, rt := range apiRoutes() {
		registered = append(registered, rt.method+" "+rt.path)
	}
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in docs/openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("docs/openapi.yaml has %s, which the server does not serve", d)
		}
	}

	// Every $ref points at something.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if ref, ok := x.(string); ok && k == "$ref" {
					if resolve(doc, ref) == nil {
						t.Errorf("$ref %s does not resolve", ref)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

// resolve follows a local JSON pointer such as #/components/schemas/Error.
func resolve(doc map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// paramNames lists the path parameters of an OpenAPI parameter list.
func paramNames(list any, doc map[string]any) []string {
	var names []string
	items, _ := list.([]any)
	for _, p := range items {
		m, _ := p.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			m, _ = resolve(doc, ref).(map[string]any)
		}
		if m["in"] == "path" {
			name, _ := m["name"].(string)
			names = append(names, name)
		}
	}
	return names
}
