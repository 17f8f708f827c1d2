package models

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// LicenseUnknown is the license of a manifest or catalogue entry that
// names none (a model folder written before manifests had the field).
const LicenseUnknown = "unknown"

// permissive are the SPDX identifiers of licences that let a model be used
// in any product, commercial ones included, with at most an attribution.
var permissive = []string{
	"0BSD", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "CC0-1.0", "CC-BY-4.0",
	"ISC", "MIT", "MIT-0", "Unlicense", "Zlib",
}

// Permissive reports whether license (an SPDX identifier, or an SPDX
// expression of them with AND, OR and parentheses; AND binds tighter)
// allows any use. LicenseUnknown, a LicenseRef-..., every copyleft
// licence (GPL, AGPL, LGPL, ...), an exception (WITH) and an expression
// that does not parse are not permissive.
func Permissive(license string) bool {
	p := &spdx{toks: strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(license))}
	ok := p.or()
	return p.err == nil && p.pos == len(p.toks) && ok
}

// spdx parses an SPDX licence expression, answering whether it is
// permissive: or = and {OR and}; and = atom {AND atom}; atom = ID | (or).
type spdx struct {
	toks []string
	pos  int
	err  error
}

func (p *spdx) next() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *spdx) or() bool {
	ok := p.and()
	for p.err == nil && p.next() == "OR" {
		p.pos++
		ok = p.and() || ok
	}
	return ok
}

func (p *spdx) and() bool {
	ok := p.atom()
	for p.err == nil && p.next() == "AND" {
		p.pos++
		ok = p.atom() && ok
	}
	return ok
}

func (p *spdx) atom() bool {
	switch t := p.next(); t {
	case "(":
		p.pos++
		ok := p.or()
		if p.next() != ")" {
			p.err = errors.New("unclosed parenthesis")
			return false
		}
		p.pos++
		return ok
	case "", ")", "AND", "OR", "WITH":
		p.err = fmt.Errorf("unexpected %q", t)
		return false
	default:
		p.pos++
		return slices.Contains(permissive, t)
	}
}

// ErrLicense means a model's licence is not permissive and was not
// accepted: it is not installed.
var ErrLicense = errors.New("licence not accepted")

// CheckLicense returns nil when e's licence is permissive or one of
// accepted (the config's [hub] accept_licenses), else an error wrapping
// ErrLicense that states the licence.
func CheckLicense(e Entry, accepted []string) error {
	if Permissive(e.License) || slices.Contains(accepted, e.License) {
		return nil
	}
	return fmt.Errorf("%s %s: %w: its licence, %s, is not permissive (it may forbid commercial use or require sharing your code)",
		e.Name, e.Version, ErrLicense, e.License)
}
