package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/anonymize/anonymize/internal/config"
)

// openAPIDoc is what the test reads of openapi.json.
type openAPIDoc struct {
	OpenAPI  string                                 `json:"openapi"`
	Security []map[string][]string                  `json:"security"`
	Paths    map[string]map[string]openAPIOperation `json:"paths"`
}

type openAPIOperation struct {
	Security  *[]map[string][]string     `json:"security"`
	Responses map[string]json.RawMessage `json:"responses"`
}

func testServer(t *testing.T) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Serve.Token = "secret"
	return New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func call(s *Server, method, path, token string) (int, string) {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

// TestOpenAPIMatchesRoutes: openapi.json parses as OpenAPI 3, and its
// operations are exactly the routes the ServeMux serves, each answered
// (never "no endpoint"); an operation without security is served without
// the token, every other one refuses a request without it (401).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Security) == 0 {
		t.Fatalf("openapi.json: version %q, security %v; want 3.x with the bearer token by default", doc.OpenAPI, doc.Security)
	}
	s := testServer(t)
	var documented []Route
	for path, ops := range doc.Paths {
		for method, op := range ops {
			r := Route{strings.ToUpper(method), path}
			documented = append(documented, r)
			if len(op.Responses) == 0 {
				t.Errorf("%s %s: no responses documented", r.Method, r.Path)
			}
			public := op.Security != nil && len(*op.Security) == 0
			code, body := call(s, r.Method, r.Path, "")
			switch {
			case strings.Contains(body, `"not_found"`):
				t.Errorf("%s %s is documented but not served: %d %s", r.Method, r.Path, code, body)
			case public && code == http.StatusUnauthorized:
				t.Errorf("%s %s is documented without security but needs the token", r.Method, r.Path)
			case !public && code != http.StatusUnauthorized:
				t.Errorf("%s %s is documented as needing the token but answered %d without it", r.Method, r.Path, code)
			}
		}
	}
	cmp := func(a, b Route) int { return strings.Compare(a.Method+" "+a.Path, b.Method+" "+b.Path) }
	slices.SortFunc(documented, cmp)
	served := s.Routes()
	slices.SortFunc(served, cmp)
	if !slices.Equal(documented, served) {
		t.Errorf("openapi.json documents %v;\nthe ServeMux serves %v", documented, served)
	}
}

// TestOpenAPIServed: GET /openapi.json answers the embedded document,
// without the token; another method is 405.
func TestOpenAPIServed(t *testing.T) {
	s := testServer(t)
	code, body := call(s, http.MethodGet, "/openapi.json", "")
	if code != http.StatusOK || !bytes.Equal([]byte(body), openAPI) {
		t.Errorf("GET /openapi.json: %d, %d bytes; want 200 with the %d bytes of openapi.json", code, len(body), len(openAPI))
	}
	if code, _ := call(s, http.MethodPost, "/openapi.json", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /openapi.json: %d, want 405", code)
	}
}
