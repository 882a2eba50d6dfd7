package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"text/template"
)

// argKinds gives, for the subcommands whose arguments can be completed,
// the kind of each positional argument: vnet device names, peer
// addresses, network interfaces, shells or commands. The last kind
// repeats for the subcommands in repeatedArgs.
var argKinds = map[string][]string{
	"vnets":       {"vnet"},
	"vnifs":       {"vnet"},
	"vnet-delete": {"vnet"},
	"vif-add":     {"vnet", "interface"},
	"vif-delete":  {"vnet", "interface"},
	"peer-delete": {"peer"},
	"help":        {"command"},
	"completion":  {"shell"},
}

var repeatedArgs = map[string]bool{"vnets": true, "vnifs": true}

// valueKinds gives the kind of value that options take, where it can be
// completed.
var valueKinds = map[string]string{
	"-s": "security", "--security": "security",
	"-b": "bridge", "--bridge": "bridge",
	"-k": "file", "--key": "file",
	"-w": "file", "--socket": "file",
}

// completionCommand describes one subcommand to the script templates.
type completionCommand struct {
	Name        string
	Description string
	// Options are all options in the form the user types them: -x for
	// one letter, --name otherwise.
	Options []string
	// Valued are the options that take a value.
	Valued []string
	Args   []string
	Repeat bool
}

// completionCommands lists the subcommands with their options, which it
// finds by running each subcommand with --help and recording its flag
// set, so that the scripts always match the flags vn accepts.
func completionCommands() []completionCommand {
	var cmds []completionCommand
	for _, sub := range subcommands {
		var fs *flag.FlagSet
		c := &cli{stdout: io.Discard, stderr: io.Discard, onFlags: func(f *flag.FlagSet) {
			if fs == nil {
				fs = f
			}
		}}
		sub.run(c, []string{"--help"})

		cc := completionCommand{
			Name:        sub.name,
			Description: firstSentence(sub.summary),
			Args:        argKinds[sub.name],
			Repeat:      repeatedArgs[sub.name],
		}
		fs.VisitAll(func(f *flag.Flag) {
			name := "--" + f.Name
			if len(f.Name) == 1 {
				name = "-" + f.Name
			}
			cc.Options = append(cc.Options, name)
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				cc.Valued = append(cc.Valued, name)
			}
		})
		cc.Options = append(cc.Options, "--help")
		slices.Sort(cc.Options)
		cmds = append(cmds, cc)
	}
	return cmds
}

// firstSentence returns s up to and including its first full stop.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

func (c *cli) completion(args []string) error {
	fs := c.flags("completion")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	var tmpl *template.Template
	switch fs.Arg(0) {
	case "bash":
		tmpl = bashCompletion
	case "zsh":
		tmpl = zshCompletion
	default:
		return usagef("completion: unknown shell %q (use bash or zsh)", fs.Arg(0))
	}
	data := struct {
		Commands []completionCommand
		Names    string
		// Values are the options whose values can be completed, except
		// those that take a file.
		Values []valueCompletion
		// Files are the options that take a file, as a shell pattern.
		Files string
	}{Commands: completionCommands()}
	names := make([]string, len(data.Commands))
	for i, cmd := range data.Commands {
		names[i] = cmd.Name
		for _, option := range cmd.Valued {
			v := valueCompletion{Option: option, Kind: valueKinds[option]}
			if v.Kind != "" && v.Kind != "file" && !slices.Contains(data.Values, v) {
				data.Values = append(data.Values, v)
			}
		}
	}
	data.Names = strings.Join(names, " ")
	var files []string
	for option, kind := range valueKinds {
		if kind == "file" {
			files = append(files, option)
		}
	}
	slices.Sort(files)
	data.Files = strings.Join(files, "|")
	slices.SortFunc(data.Values, func(a, b valueCompletion) int { return strings.Compare(a.Option, b.Option) })
	return tmpl.Execute(c.stdout, data)
}

// valueCompletion is an option and the kind of its value.
type valueCompletion struct {
	Option, Kind string
}

var templateFuncs = template.FuncMap{
	"join": strings.Join,
	// quote makes s one single-quoted shell word.
	"quote": func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" },
}

// wordsFunction is the shell function, the same in bash and zsh, that
// prints the completions of one kind, one per line. It runs vn, with the
// --socket option of the command line, to list vnets and peers.
const wordsFunction = `_vn_words() {
	case $1 in
	vnet)
		"${_vn_cmd[@]}" vnets 2>/dev/null | sed -n 's/.*(vnetif \([^) ]*\)).*/\1/p' ;;
	peer)
		"${_vn_cmd[@]}" peers 2>/dev/null | sed -n 's/^  (addr \(.*\))$/\1/p' ;;
	interface)
		ls /sys/class/net 2>/dev/null ;;
	bridge)
		for d in /sys/class/net/*/bridge; do
			[ -d "$d" ] && basename "$(dirname "$d")"
		done ;;
	security)
		printf '%s\n' none auth conf ;;
	shell)
		printf '%s\n' bash zsh ;;
	command)
		printf '%s\n' {{.Names}} ;;
	esac
}
`

// commandCase is the case statement that sets the options and argument
// kinds of the subcommand in $sub.
const commandCase = `	case ${sub//_/-} in
{{- range .Commands}}
	{{.Name}})
		opts={{quote (join .Options " ")}}
		valued={{quote (join .Valued " ")}}
		args={{quote (join .Args " ")}}
		repeat={{if .Repeat}}1{{else}}0{{end}} ;;
{{- end}}
	*)
		return ;;
	esac
`

var bashCompletion = template.Must(template.New("bash").Funcs(templateFuncs).Parse(`# bash completion for vn. Load it with
#   source <(vn completion bash)
# or save it as /etc/bash_completion.d/vn.

` + wordsFunction + `
_vn() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local -a _vn_cmd=("${COMP_WORDS[0]}")
	local sub="" word i=1
	# Find the command after the global options.
	while ((i < COMP_CWORD)); do
		word=${COMP_WORDS[i]}
		case $word in
		--socket|-socket)
			_vn_cmd+=(--socket "${COMP_WORDS[i+1]}")
			((i += 2))
			continue ;;
		-*) ;;
		*)
			sub=$word
			break ;;
		esac
		((i++))
	done
	if [[ -z $sub ]]; then
		if [[ $prev == --socket || $prev == -socket ]]; then
			COMPREPLY=($(compgen -f -- "$cur"))
		else
			COMPREPLY=($(compgen -W "--socket --help {{.Names}}" -- "$cur"))
		fi
		return
	fi

	local opts valued args repeat
` + commandCase + `
	# The value of an option.
	if [[ " $valued " == *" $prev "* ]]; then
		case $prev in
{{- range .Values}}
		{{.Option}}) COMPREPLY=($(compgen -W "$(_vn_words {{.Kind}})" -- "$cur")) ;;
{{- end}}
		{{.Files}}) COMPREPLY=($(compgen -f -- "$cur")) ;;
		esac
		return
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi

	# The argument by its position, counting the words after the command
	# that are neither options nor their values.
	local n=0 j
	for ((j = i + 1; j < COMP_CWORD; j++)); do
		word=${COMP_WORDS[j]}
		if [[ $word == --socket || $word == -socket ]]; then
			_vn_cmd+=(--socket "${COMP_WORDS[j+1]}")
		fi
		if [[ " $valued " == *" $word "* ]]; then
			((j++))
		elif [[ $word != -* ]]; then
			((n++))
		fi
	done
	local -a kinds=($args)
	local kind=""
	if ((n < ${#kinds[@]})); then
		kind=${kinds[n]}
	elif ((repeat && ${#kinds[@]} > 0)); then
		kind=${kinds[${#kinds[@]}-1]}
	fi
	if [[ -n $kind ]]; then
		COMPREPLY=($(compgen -W "$(_vn_words "$kind")" -- "$cur"))
	fi
}

complete -F _vn vn
`))

var zshCompletion = template.Must(template.New("zsh").Funcs(templateFuncs).Parse(`#compdef vn
# zsh completion for vn. Load it with
#   source <(vn completion zsh)
# after compinit, or save it as _vn in a directory of $fpath.

` + wordsFunction + `
_vn() {
	local -a _vn_cmd
	_vn_cmd=($words[1])
	local sub="" word i=2
	# Find the command after the global options.
	while (( i < CURRENT )); do
		word=$words[i]
		case $word in
		(--socket|-socket)
			_vn_cmd+=(--socket "$words[i+1]")
			(( i += 2 ))
			continue ;;
		(-*) ;;
		(*)
			sub=$word
			break ;;
		esac
		(( i++ ))
	done
	local cur=$words[CURRENT] prev=$words[CURRENT-1]
	if [[ -z $sub ]]; then
		if [[ $prev == --socket || $prev == -socket ]]; then
			_files
			return
		fi
		if [[ -z $cur || $cur == -* ]]; then
			compadd -- --socket --help
		fi
		if [[ $cur != -* ]]; then
			local -a commands
			commands=(
{{- range .Commands}}
				{{quote (printf "%s:%s" .Name .Description)}}
{{- end}}
			)
			_describe -t commands 'vn command' commands
		fi
		return
	fi

	local opts valued args repeat
` + commandCase + `
	local -a optlist kinds
	optlist=(${=opts})
	kinds=(${=args})
	# The value of an option.
	if [[ " $valued " == *" $prev "* ]]; then
		case $prev in
{{- range .Values}}
		({{.Option}}) compadd -- ${(f)"$(_vn_words {{.Kind}})"} ;;
{{- end}}
		({{.Files}}) _files ;;
		esac
		return
	fi
	if [[ $cur == -* ]]; then
		compadd -- $optlist
		return
	fi

	# The argument by its position, counting the words after the command
	# that are neither options nor their values.
	local n=0 j
	for (( j = i + 1; j < CURRENT; j++ )); do
		word=$words[j]
		if [[ $word == --socket || $word == -socket ]]; then
			_vn_cmd+=(--socket "$words[j+1]")
		fi
		if [[ " $valued " == *" $word "* ]]; then
			(( j++ ))
		elif [[ $word != -* ]]; then
			(( n++ ))
		fi
	done
	local kind=""
	if (( n < $#kinds )); then
		kind=$kinds[n+1]
	elif (( repeat && $#kinds > 0 )); then
		kind=$kinds[-1]
	fi
	if [[ -n $kind ]]; then
		compadd -- ${(f)"$(_vn_words $kind)"}
	fi
}

# Autoloaded from $fpath, the file is the body of _vn and completes at
# once; sourced, it registers _vn.
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
	_vn "$@"
else
	compdef _vn vn
fi
`))
