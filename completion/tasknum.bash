# bash completion for tasknum                                  -*- shell-script -*-
# Installed as PREFIX/share/bash-completion/completions/tasknum, where
# bash-completion loads it on the first <TAB> after `tasknum`. The
# candidates come from tasknum itself (`tasknum complete --line ...`): its
# commands, their options and --format names, found by the same lookup and
# declarations as running them, so nothing here needs to change when a
# command or an option is added.
_tasknum()
{
    local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n'
    [[ $cur == = ]] && cur= # right after --option=
    local -a out
    out=($("${COMP_WORDS[0]}" complete --line "${COMP_LINE:0:COMP_POINT}" 2>/dev/null))
    case ${out[0]-} in
    :files)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        ;;
    :commands)
        COMPREPLY=($(compgen -c -- "$cur"))
        ;;
    *)
        COMPREPLY=("${out[@]}")
        ;;
    esac
}
complete -F _tasknum tasknum
