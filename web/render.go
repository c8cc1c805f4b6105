package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ringdesk/ringdesk"
)

// Templates and assets are embedded, so the binary is the whole web app:
// no Node build step, nothing to deploy beside it.
//
//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// templates holds one template set per page: the base layout (base.html),
// the shared partials (_*.html) and the page's own file, parsed once at start.
type templates struct {
	pages   map[string]*template.Template
	version string // a hash of the static files, for cache busting
}

func parseTemplates() (*templates, error) {
	t := &templates{pages: map[string]*template.Template{}}
	h := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	t.version = hex.EncodeToString(h.Sum(nil))[:12]
	funcs := template.FuncMap{
		"asset": func(name string) string { return "/static/" + name + "?v=" + t.version },
		"hasRole": func(u *ringdesk.User, roles ...string) bool {
			return u != nil && slices.Contains(roles, u.Role)
		},
		"time": func(tm time.Time) string {
			if tm.IsZero() {
				return ""
			}
			return tm.Local().Format("2006-01-02 15:04")
		},
		"join": strings.Join,
	}
	base, err := template.New("base.html").Funcs(funcs).ParseFS(templateFS, "templates/base.html")
	if err != nil {
		return nil, err
	}
	if partials, _ := fs.Glob(templateFS, "templates/_*.html"); len(partials) > 0 {
		if base, err = base.ParseFS(templateFS, partials...); err != nil {
			return nil, err
		}
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "base" || strings.HasPrefix(name, "_") {
			continue
		}
		p, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", f, err)
		}
		t.pages[name] = p
	}
	return t, nil
}

// Page is what every page template gets: the layout's needs (user, CSRF
// token, navigation) and the page's own Data.
type Page struct {
	Title   string
	User    *ringdesk.User // nil when not logged in
	CSRF    string         // the session's CSRF token, for forms (field "csrf") and fetch (header X-CSRF-Token)
	Path    string         // the request path, to mark the current navigation entry
	Nav     []NavItem
	Version string
	Data    any
}

// NavItem is an entry of the navigation bar.
type NavItem struct {
	Label, Href string
	Current     bool
}

// navigation lists the sections a role may open, in the bar's order.
var navigation = []struct {
	label, href string
	roles       []string
}{
	{"Desk", "/desk", []string{ringdesk.RoleAgent, ringdesk.RoleSupervisor}},
	{"Customers", "/customers", []string{ringdesk.RoleAgent, ringdesk.RoleSupervisor, ringdesk.RoleAdmin}},
	{"Supervisor", "/supervisor", []string{ringdesk.RoleSupervisor, ringdesk.RoleAdmin}},
	{"Admin", "/admin", []string{ringdesk.RoleAdmin}},
}

// render writes the page template named page (templates/<page>.html) with
// status 200. data is the page's own data (.Data in the template); title
// goes in <title> and may be set by a page through a Titled value.
func (s *Server) render(w http.ResponseWriter, r *http.Request, page string, data any) {
	s.renderStatus(w, r, http.StatusOK, page, data)
}

// Titled carries a page's title beside its data: render(w, r, "x", Titled{"Ada", data}).
type Titled struct {
	Title string
	Data  any
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	t, ok := s.tmpl.pages[page]
	if !ok {
		s.logger.Error("no such page template", "page", page)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	p := Page{Path: r.URL.Path, Version: s.tmpl.version, Data: data}
	if td, ok := data.(Titled); ok {
		p.Title, p.Data = td.Title, td.Data
	}
	if sess := SessionFrom(r.Context()); sess != nil {
		p.User, p.CSRF = sess.User, sess.CSRF
		for _, n := range navigation {
			if slices.Contains(n.roles, sess.User.Role) {
				p.Nav = append(p.Nav, NavItem{Label: n.label, Href: n.href,
					Current: r.URL.Path == n.href || strings.HasPrefix(r.URL.Path, n.href+"/")})
			}
		}
	}
	if lp, ok := data.(loginPage); ok {
		p.CSRF = lp.Token
	}
	// Render into a buffer so that a template error is a clean 500, not
	// half a page.
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base.html", p); err != nil {
		s.logger.Error("render page", "page", page, "error", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// staticHandler serves the embedded assets. Their URLs carry the assets'
// hash (see asset), so browsers may keep them a long time.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		files.ServeHTTP(w, r)
	})
}
