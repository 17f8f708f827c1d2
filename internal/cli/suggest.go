package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// unknownCommand is the usage error for a word that is no command of cmds
// (nor, at the top level, an existing path): it names the closest command
// when one is near.
func unknownCommand(word, where string, cmds []*cli.Command) error {
	var names []string
	for _, c := range cmds {
		if c.Name != "help" && !c.Hidden {
			names = append(names, c.Name)
		}
	}
	if s := closest(word, names); s != "" {
		return usageErr("unknown command %q%s: did you mean %q?", word, where, s)
	}
	return usageErr("unknown command %q%s (commands: %s)", word, where, strings.Join(names, ", "))
}

// mistypedCommand reports whether the first argument of a run looks like a
// mistyped command rather than an input path: it is not there on disk and
// is close to a command's name. A path that exists is always an input.
func mistypedCommand(arg string, cmds []*cli.Command) bool {
	if strings.ContainsAny(arg, `/\.`) {
		return false
	}
	if _, err := os.Lstat(arg); err == nil {
		return false
	}
	var names []string
	for _, c := range cmds {
		names = append(names, c.Name)
	}
	return closest(arg, names) != ""
}

// closest is the name within two edits of word (or that word begins), the
// nearest first; "" when none is near.
func closest(word string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		d := editDistance(strings.ToLower(word), n)
		if len(word) >= 2 && strings.HasPrefix(n, strings.ToLower(word)) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance of a and b (optimal
// string alignment: insertions, deletions, substitutions and swaps of two
// neighbours cost one each).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// subcommandsOnly is the Action of a command that only groups others
// (models): a word that is none of them is a usage error, with a
// suggestion; no word shows the command's help.
func subcommandsOnly(c *cli.Context) error {
	if c.NArg() > 0 {
		return unknownCommand(c.Args().First(), fmt.Sprintf(" for %s", c.Command.Name), c.Command.Subcommands)
	}
	return cli.ShowSubcommandHelp(c)
}
