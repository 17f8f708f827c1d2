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

// Permissive reports whether license (an SPDX identifier, or a simple SPDX
// expression of them joined by OR or AND) allows any use. LicenseUnknown,
// a LicenseRef-... and every copyleft licence (GPL, AGPL, LGPL, ...) are
// not permissive.
func Permissive(license string) bool {
	license = strings.TrimSpace(strings.Trim(license, "()"))
	if alts := strings.Split(license, " OR "); len(alts) > 1 {
		return slices.ContainsFunc(alts, Permissive)
	}
	if all := strings.Split(license, " AND "); len(all) > 1 {
		for _, l := range all {
			if !Permissive(l) {
				return false
			}
		}
		return true
	}
	return slices.Contains(permissive, license)
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
