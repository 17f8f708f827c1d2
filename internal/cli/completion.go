package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionCommand is `anonymize completion bash|zsh|fish`: a completion
// script for the shell, generated from the commands and flags declared
// here, so it never falls behind them. The bash and zsh scripts are static
// (completing never runs anonymize); fish's is urfave/cli's own.
func completionCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "Load it for this shell:   source <(anonymize completion bash)\n" +
			"Install it for every shell: anonymize completion bash > /etc/bash_completion.d/anonymize\n" +
			"(the Debian package installs all three). zsh: put the output in a folder on $fpath as\n" +
			"_anonymize; fish: in ~/.config/fish/completions/anonymize.fish.",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("completion: name one shell: bash, zsh or fish")
			}
			var script string
			switch sh := c.Args().First(); sh {
			case "bash":
				script = bashCompletion(c.App)
			case "zsh":
				script = zshCompletion(c.App)
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("fish completion: %w", err)
				}
				script = s
			default:
				return usageErr("completion: unknown shell %q (bash, zsh or fish)", sh)
			}
			_, err := io.WriteString(stdout, script)
			return err
		},
	}
}

// manCommand is `anonymize man`: the manual page, as roff.
func manCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "man",
		Usage: "print the manual page (roff; read it with: anonymize man | man -l -)",
		Action: func(c *cli.Context) error {
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return fmt.Errorf("man page: %w", err)
			}
			_, err = io.WriteString(stdout, page)
			return err
		},
	}
}

// completionNode is one command's words: its path ("" for anonymize
// itself, "models list"), subcommands, flags and flags that take a value.
type completionNode struct {
	path               string
	cmds, flags, value []string
}

// completionTree lists app and every visible command below it, depth first.
func completionTree(app *cli.App) []completionNode {
	var nodes []completionNode
	var walk func(path string, cmds []*cli.Command, flags []cli.Flag)
	walk = func(path string, cmds []*cli.Command, flags []cli.Flag) {
		n := completionNode{path: path}
		for _, c := range cmds {
			if completes(path, c) {
				n.cmds = append(n.cmds, c.Names()...)
			}
		}
		for _, f := range append(slices.Clone(flags), cli.HelpFlag) {
			if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
				continue
			}
			_, isBool := f.(*cli.BoolFlag)
			for _, name := range f.Names() {
				dash := "--" + name
				if len(name) == 1 {
					dash = "-" + name
				}
				if slices.Contains(n.flags, dash) { // urfave/cli may have added --help already
					continue
				}
				n.flags = append(n.flags, dash)
				if !isBool {
					n.value = append(n.value, dash)
				}
			}
		}
		nodes = append(nodes, n)
		for _, c := range cmds {
			if completes(path, c) {
				walk(strings.TrimSpace(path+" "+c.Name), c.Subcommands, c.Flags)
			}
		}
	}
	walk("", app.Commands, app.Flags)
	return nodes
}

// completes reports whether command c under path is offered: not hidden,
// and "help" only at the top (urfave/cli adds one to every command).
func completes(path string, c *cli.Command) bool {
	return !c.Hidden && (path == "" || c.Name != "help")
}

// completionCases writes a shell case statement: for each node, its
// path and the words pick chooses. The syntax is the same in bash and zsh.
func completionCases(nodes []completionNode, pick func(completionNode) []string) string {
	var b strings.Builder
	b.WriteString("  case \"$1\" in\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "    %q) echo %q ;;\n", n.path, strings.Join(pick(n), " "))
	}
	b.WriteString("  esac\n")
	return b.String()
}

// completionTables are the three lookup functions both scripts use:
// _anonymize_cmds PATH, _anonymize_flags PATH, _anonymize_values PATH.
func completionTables(app *cli.App) string {
	nodes := completionTree(app)
	return "_anonymize_cmds() {\n" + completionCases(nodes, func(n completionNode) []string { return n.cmds }) + "}\n" +
		"_anonymize_flags() {\n" + completionCases(nodes, func(n completionNode) []string { return n.flags }) + "}\n" +
		"_anonymize_values() {\n" + completionCases(nodes, func(n completionNode) []string { return n.value }) + "}\n"
}

// completionWalk is the shell code (bash and zsh alike) that reads the
// words before the cursor, from index FIRST to LAST-1 of WORDS: it sets
// cmdpath (the command they select), pos (a path was given, so no command
// follows) and skip (the word at the cursor is a flag's value).
const completionWalk = `  local cmdpath="" pos="" skip="" i w
  for ((i = FIRST; i < LAST; i++)); do
    w="${WORDS[i]}"
    if [[ -n $skip ]]; then skip=""; continue; fi
    if [[ $w == -* ]]; then
      [[ $w != *=* && " $(_anonymize_values "$cmdpath") " == *" $w "* ]] && skip=1
      continue
    fi
    if [[ -z $pos && " $(_anonymize_cmds "$cmdpath") " == *" $w "* ]]; then
      cmdpath="${cmdpath:+$cmdpath }$w"
    else
      pos=1
    fi
  done
`

// bashCompletion is the bash script: commands, then flags after "-"; a
// flag's value and a path complete as file names (complete -o default).
func bashCompletion(app *cli.App) string {
	walk := strings.NewReplacer("FIRST", "1", "LAST", "COMP_CWORD", "WORDS", "COMP_WORDS").Replace(completionWalk)
	return "# bash completion for anonymize, generated by `anonymize completion bash` (" + version + ")\n" +
		completionTables(app) +
		"_anonymize() {\n  local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n  COMPREPLY=()\n" + walk +
		"  [[ -n $skip ]] && return 0\n" +
		"  if [[ $cur == -* ]]; then\n" +
		"    COMPREPLY=($(compgen -W \"$(_anonymize_flags \"$cmdpath\")\" -- \"$cur\"))\n" +
		"  elif [[ -z $pos ]]; then\n" +
		"    COMPREPLY=($(compgen -W \"$(_anonymize_cmds \"$cmdpath\")\" -- \"$cur\"))\n" +
		"  fi\n}\n" +
		"complete -o default -o bashdefault -F _anonymize anonymize\n"
}

// zshCompletion is the zsh script: autoloaded from $fpath as _anonymize,
// or sourced (then it registers itself with compdef).
func zshCompletion(app *cli.App) string {
	walk := strings.NewReplacer("FIRST", "2", "LAST", "CURRENT", "WORDS", "words").Replace(completionWalk)
	return "#compdef anonymize\n# zsh completion for anonymize, generated by `anonymize completion zsh` (" + version + ")\n" +
		completionTables(app) +
		"_anonymize() {\n" + walk +
		"  if [[ -n $skip ]]; then _files; return; fi\n" +
		"  if [[ $PREFIX == -* ]]; then compadd -- ${=$(_anonymize_flags \"$cmdpath\")}; return; fi\n" +
		"  [[ -z $pos ]] && compadd -- ${=$(_anonymize_cmds \"$cmdpath\")}\n" +
		"  _files\n}\n" +
		"if [[ ${funcstack[1]} == _anonymize ]]; then _anonymize \"$@\"; else compdef _anonymize anonymize; fi\n"
}
