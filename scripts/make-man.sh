#!/usr/bin/env bash
# Writes flatparams.1 from the built binary's own -h texts, so the man page
# says exactly what -h says. Usage: make-man.sh BIN OUT
set -euo pipefail
bin=$1 out=$2
esc() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"; }
{
    echo '.TH FLATPARAMS 1 "" "flatparams '"$("$bin" --version | cut -d' ' -f2)"'" "User Commands"'
    echo '.SH NAME'
    echo 'flatparams \- nested model files to flat parameter vectors and back'
    echo '.SH SYNOPSIS'
    echo '.nf'
    # each command's synopsis, with its continuation lines (indented deeper)
    "$bin" --help | awk '/^commands:/ { on = 1; next }
        on && /^  [a-z]/ { sub(/^  /, "flatparams "); print; next }
        on && /^   / { print; next }
        on && /^$/ { on = 0 }' | esc
    echo '.fi'
    echo '.SH DESCRIPTION'
    echo '.nf'
    "$bin" --help | esc
    echo '.fi'
    echo '.SH COMMANDS'
    for c in $("$bin" --help | sed -n 's/^  \([a-z]*\) .*/\1/p'); do
        echo ".SS $c"
        echo '.nf'
        "$bin" "$c" -h | esc
        echo '.fi'
    done
    echo '.SH EXIT STATUS'
    echo '0 success, 1 bad input or failed I/O, 2 wrong usage.'
    echo 'Errors are one line on standard error: flatparams: error: <file or path>: <what is wrong>.'
} > "$out"
