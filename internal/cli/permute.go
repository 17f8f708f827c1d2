package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// permuteArgs moves flags ahead of positional arguments, so that
// `anonymize ./photos --out clean` works as users expect (urfave/cli v2
// stops reading flags at the first positional argument). Command names at
// the front select whose flags apply; "--" ends flag reading.
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	flags := app.Flags
	cmds := app.Commands
	takesValue := valueFlags(flags)
	// Flags and command names at the front select whose flags apply.
	for len(rest) > 0 {
		a := rest[0]
		if len(a) > 1 && a[0] == '-' && a != "--" {
			out = append(out, a)
			rest = rest[1:]
			if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && takesValue[name] && len(rest) > 0 {
				out = append(out, rest[0])
				rest = rest[1:]
			}
			continue
		}
		var cmd *cli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				cmd = c
			}
		}
		if cmd == nil {
			break
		}
		out = append(out, a)
		rest = rest[1:]
		flags, cmds = cmd.Flags, cmd.Subcommands
		takesValue = valueFlags(flags)
	}
	var fl, pos []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			fl = append(fl, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
				fl = append(fl, rest[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	out = append(out, fl...)
	if len(pos) > 0 {
		out = append(out, "--")
		out = append(out, pos...)
	}
	return out
}

func valueFlags(flags []cli.Flag) map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			m[n] = !isBool
		}
	}
	return m
}
