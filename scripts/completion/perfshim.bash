# SPDX-License-Identifier: MIT
# bash completion for perfshim(1). Installed as
# share/bash-completion/completions/perfshim; to try it from a checkout:
#   source scripts/completion/perfshim.bash
# The commands and options are read from `perfshim --help` and `perfshim COMMAND --help`, so
# this file stays right when the CLI grows; each list is read once per shell.

_perfshim_commands=
declare -A _perfshim_opts 2>/dev/null || true

_perfshim_help_words() { # COMMAND: the long options its --help lists
    "$1" "$2" --help 2>/dev/null |
        grep -o -- '--[a-z][a-z0-9-]*\(\[\?=\)\?' | sed 's/\[=$//' | sort -u
}

_perfshim_trace_opts() { # the options every command that reads traces takes (`perfshim --help`)
    "$1" --help 2>/dev/null | sed -n '/^Every command that reads traces/,/^$/p' |
        grep -o -- '^  --[a-z][a-z0-9-]*' | sed 's/^ *//'
}

_perfshim() {
    local cur prev cmd i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    local prog=${COMP_WORDS[0]}

    # the command is the first word after the program that is not an option
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done

    # the commands, from `perfshim --help` (also for `perfshim help <TAB>`, which may come first)
    if [[ -z $_perfshim_commands ]]; then
        _perfshim_commands=$("$prog" --help 2>/dev/null |
            sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
    fi

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '--help --version' -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$_perfshim_commands" -- "$cur"))
        fi
        return 0
    fi

    case $cmd in
    help)
        COMPREPLY=($(compgen -W "$_perfshim_commands" -- "$cur"))
        return 0
        ;;
    run)
        # after `--` (or the first non-option) the rest is the command line to run
        for ((i = i + 1; i < COMP_CWORD; i++)); do
            if [[ ${COMP_WORDS[i]} == -- ]]; then
                COMPREPLY=($(compgen -c -- "$cur"))
                [[ $COMP_CWORD -gt $((i + 1)) ]] && COMPREPLY=($(compgen -f -- "$cur"))
                return 0
            fi
        done
        ;;
    ctl)
        if [[ $prev == ctl ]]; then
            local pids
            pids=$("$prog" ctl --list 2>/dev/null | awk '$1 ~ /^[0-9]+$/ {print $1}')
            COMPREPLY=($(compgen -W "--list $pids" -- "$cur"))
        elif [[ $prev =~ ^[0-9]+$ ]]; then
            COMPREPLY=($(compgen -W 'status start stop dump sample full interval' -- "$cur"))
        fi
        return 0
        ;;
    esac

    case $prev in
    -o | --output | --suppressions | --budget | --junit | --html)
        COMPREPLY=($(compgen -f -- "$cur"))
        return 0
        ;;
    --sysroot | --debug-dir | --symbol-cache)
        COMPREPLY=($(compgen -d -- "$cur"))
        return 0
        ;;
    --format) # export's formats (perfshim export --help)
        COMPREPLY=($(compgen -W 'pprof folded speedscope json' -- "$cur"))
        return 0
        ;;
    --metric)
        COMPREPLY=($(compgen -W 'inuse_space inuse_objects alloc_space alloc_objects contentions
                                 delay samples cpu heap locks' -- "$cur"))
        return 0
        ;;
    --at)
        COMPREPLY=($(compgen -W 'last max' -- "$cur"))
        return 0
        ;;
    --rank)
        COMPREPLY=($(compgen -W 'bytes suspects' -- "$cur"))
        return 0
        ;;
    esac

    if [[ $cur == -* ]]; then
        if [[ -z ${_perfshim_opts[$cmd]+x} ]]; then
            _perfshim_opts[$cmd]=$(_perfshim_help_words "$prog" "$cmd")
            [[ $cmd != run ]] && _perfshim_opts[$cmd]+=" $(_perfshim_trace_opts "$prog")"
        fi
        COMPREPLY=($(compgen -W "${_perfshim_opts[$cmd]}" -- "$cur"))
        # an option that takes its value after '=' completes without the space
        [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
        return 0
    fi
    # traces (and directories on the way to them)
    COMPREPLY=($(compgen -f -X '!*.trace*' -- "$cur") $(compgen -d -- "$cur"))
    return 0
}
complete -F _perfshim perfshim
