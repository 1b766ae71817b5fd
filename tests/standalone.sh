#!/usr/bin/env bash
# The project stands alone: a clone with nothing beside it must build, test and
# read its documents, so no file of the project may name the directory beside
# it (what the tests and examples need lives in testdata/, testdata/corpus/
# among them). Fails, naming the files, when one does.
# Usage: standalone.sh SOURCE_ROOT
set -uo pipefail
cd "$1" || exit 1
# Spelled in two pieces so that this file does not name it itself.
beside='..''/shared'
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    found=$(git grep -l -F "$beside" -- . || true)
else    # a source tarball: every file but the build directories
    found=$(grep -rlF --exclude-dir='build*' --exclude-dir=.git "$beside" . || true)
fi
if [ -n "$found" ]; then
    echo "these files name $beside, which a clone of the project does not have:"
    printf '  %s\n' $found
    echo "standalone: 0 passed, 1 failed"
    exit 1
fi
echo "standalone: 1 passed, 0 failed"
