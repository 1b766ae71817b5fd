#!/usr/bin/env bash
# The documents' examples, run (suite 'readme'), so they cannot go stale.
#
# An example is a fenced block (```) of README.md or doc/*.md whose first line
# starts with "$ ". Each "$ " line is a command (a line ending in "\" goes on
# on the next one); the lines under it, up to the next "$ " line, are exactly
# what it prints, standard output and error together. The commands of one
# document run one after another with bash, in a fresh directory of their own
# where testdata/ is the project's and `flatparams` is the built one: as for a
# user in the project root with flatparams on PATH. A command that needs a
# program or a Python module this machine lacks (python3 and numpy, h5dump) is
# skipped with a note, and the commands after it still run.
#
# Also: no "$ " example hides in an indented block, where it would not run;
# every command of the man page's EXAMPLES is one of the README's (so it runs
# too); groff reads the man page without a warning (skipped without groff);
# and every FLATPARAMS_* variable the code reads is in the man page's
# ENVIRONMENT section and in doc/contract.md.
#
# Prints "readme: P passed, F failed". Needs no Python.
# Usage: readme.sh FLATPARAMS SOURCE_DIR MAN_PAGE
set -uo pipefail
bin=$(realpath "$1") src=$(realpath "$2") man_page=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
ln -s "$bin" "$work/bin/flatparams"
export PATH="$work/bin:$PATH" LC_ALL=C
unset FLATPARAMS_FSYNC FLATPARAMS_TIME
passed=0 failed=0 skipped=0

fail() {   # fail WHAT DETAIL_FILE
    echo "FAIL: $1"
    [ -n "${2:-}" ] && sed 's/^/  /' "$2" | head -40
    failed=$((failed + 1))
}

# The top-level modules a Python one-liner imports ("import io, numpy as np",
# "from numpy import load").
python_modules() {
    { printf '%s\n' "$1" | grep -oE 'from [A-Za-z_][A-Za-z0-9_.]* import' | awk '{print $2}'
      printf '%s\n' "$1" | sed -E 's/from [A-Za-z0-9_.]+ import [A-Za-z0-9_, ]+//g' |
          grep -oE 'import [A-Za-z_][A-Za-z0-9_.]*( as [A-Za-z_]+)?(, *[A-Za-z_][A-Za-z0-9_.]*( as [A-Za-z_]+)?)*' |
          sed -E 's/^import //; s/ as [A-Za-z_]+//g' | tr ',' '\n'
    } | sed -E 's/^ *//; s/\..*//' | grep . | sort -u
}

# What an example needs that may be missing here: the programs its pipeline
# runs (words in quotes are not programs) and the Python modules it imports.
missing_for() {
    local cmd=$1 word module what=""
    local bare
    bare=$(printf '%s' "$cmd" | sed -E "s/'[^']*'//g; s/\"[^\"]*\"//g; s/#.*//")
    for word in $(printf '%s\n' "$bare" | sed -E 's/(\|\||&&|[|;(])/\n/g' |
                  sed -E 's/^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*=[^[:space:]]*[[:space:]]+)*//' |
                  awk '{print $1}'); do
        command -v "$word" >/dev/null 2>&1 || what="$what $word"
    done
    if [[ $cmd == *python3* ]] && command -v python3 >/dev/null 2>&1; then
        for module in $(python_modules "$cmd"); do
            python3 -c "import $module" 2>/dev/null || what="$what $module"
        done
    fi
    printf '%s' "${what# }"
}

# run_example DOC LINE COMMAND EXPECTED_FILE DIR
run_example() {
    local doc=$1 line=$2 cmd=$3 expected=$4 dir=$5 needs
    needs=$(missing_for "$cmd")
    if [ -n "$needs" ]; then
        echo "skipped (this machine lacks $needs): $doc:$line: \$ $cmd"
        skipped=$((skipped + 1))
        return
    fi
    (cd "$dir" && bash -c "$cmd") > "$work/got" 2>&1 < /dev/null
    if cmp -s "$expected" "$work/got"; then
        passed=$((passed + 1))
    else
        diff -u --label "$doc:$line (shown)" --label "printed" "$expected" "$work/got" > "$work/diff"
        fail "$doc:$line: \$ $cmd" "$work/diff"
    fi
}

# run_document FILE: every example of one document, in a directory of its own.
run_document() {
    local file=$1 doc=${1#"$src"/} dir n=0 in_fence=0 in_example=0 cmd="" at=0 line
    dir="$work/doc$((++documents))"
    mkdir "$dir"
    ln -s "$src/testdata" "$dir/testdata"
    : > "$work/expected"
    finish() {   # the command so far, with what was shown under it
        [ -n "$cmd" ] && run_example "$doc" "$at" "$cmd" "$work/expected" "$dir"
        cmd="" && : > "$work/expected"
    }
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        if [[ $line == '```'* ]]; then
            if [ $in_fence = 0 ]; then
                in_fence=1 in_example=-1   # -1: undecided until the first line
            else
                finish
                in_fence=0 in_example=0
            fi
            continue
        fi
        if [ $in_fence = 0 ]; then
            if [[ $line =~ ^(\ {4}|$'\t')+\$\  ]]; then
                echo "$doc:$n: an example in an indented block, which does not run: use a fence" > "$work/why"
                fail "$doc:$n: indented example" "$work/why"
            fi
            continue
        fi
        if [ $in_example = -1 ]; then
            [[ $line == '$ '* ]] && in_example=1 || in_example=0
        fi
        [ $in_example = 1 ] || continue
        if [[ $line == '$ '* ]]; then
            finish
            cmd=${line#'$ '} at=$n
            while [[ $cmd == *\\ ]] && IFS= read -r line; do   # continued
                n=$((n + 1))
                cmd="${cmd%\\}"$'\n'"$line"
            done
        else
            printf '%s\n' "$line" >> "$work/expected"
        fi
    done < "$file"
    [ $in_fence = 0 ] || { echo "$doc: a fence is not closed" > "$work/why"; fail "$doc: fences" "$work/why"; }
}

documents=0
for file in "$src/README.md" "$src"/doc/*.md; do
    [ -f "$file" ] && run_document "$file"
done

# The man page's EXAMPLES are README examples (and so run above).
examples=$(sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$man_page" | sed -n 's/^\$ //p' |
           sed -e 's/\\e/\\/g' -e 's/\\-/-/g')
if [ -z "$examples" ]; then
    echo "$man_page has no EXAMPLES section with \$ lines" > "$work/why"
    fail "man page: EXAMPLES" "$work/why"
else
    grep -hE '^\$ ' "$src/README.md" | sed 's/^\$ //' > "$work/readme-commands"
    while IFS= read -r example; do
        if grep -qxF -- "$example" "$work/readme-commands"; then
            passed=$((passed + 1))
        else
            echo "the man page shows '$example', which is no README example" > "$work/why"
            fail "man page example: $example" "$work/why"
        fi
    done <<< "$examples"
fi

# The man page is well-formed roff: groff reads it without a warning.
if command -v groff >/dev/null 2>&1; then
    if groff -man -ww -z "$man_page" > "$work/why" 2>&1 && [ ! -s "$work/why" ]; then
        passed=$((passed + 1))
    else
        fail "man page: groff warns" "$work/why"
    fi
else
    echo "skipped (this machine lacks groff): the man page's roff check"
    skipped=$((skipped + 1))
fi

# Every FLATPARAMS_* variable the code reads is documented in the man page and
# in doc/contract.md. (Variables are read with getenv, some through a name
# passed along, so every such string literal counts.)
variables=$(cd "$src" && grep -rhoE --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh' \
                '"FLATPARAMS_[A-Z0-9_]+"' lib cmd formats | tr -d '"' | sort -u)
environment=$(sed -n '/^\.SH ENVIRONMENT/,/^\.SH /p' "$man_page")
for variable in $variables; do
    for place in man contract; do
        if [ $place = man ]; then
            grep -qxF ".B $variable" <<< "$environment"
        else
            grep -qE "(^|[^A-Za-z0-9_])$variable([^A-Za-z0-9_]|\$)" "$src/doc/contract.md"
        fi || {
            echo "$variable is read by the code but not described in the $place page" > "$work/why"
            fail "$variable in the $place page" "$work/why"
            continue
        }
        passed=$((passed + 1))
    done
done

[ $skipped = 0 ] || echo "readme: $skipped checks skipped (see above)"
echo "readme: $passed passed, $failed failed"
[ $failed = 0 ]
