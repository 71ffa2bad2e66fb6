#!/usr/bin/env bash
# Makes sure VENV exists and was made by a supported Python; (re)creates it otherwise.
#
#   scripts/ensure-venv.sh PYTHON VENV EXPLICIT SUPPORTED...
#
# EXPLICIT=1 when PYTHON was chosen on the command line or in the environment: then a VENV made
# by another Python version is rebuilt with PYTHON. An existing VENV is kept only if its own
# python runs and is a supported version. Exit status 2, with a message, if PYTHON is missing or
# unsupported; nothing is created or deleted then.
set -euo pipefail

python=$1
venv=$2
explicit=$3
shift 3
supported="$*"

version_of() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null; }
is_supported() {
    local wanted
    for wanted in $supported; do
        [ "${1%.*}" = "$wanted" ] && return 0
    done
    return 1
}
fail() {
    {
        echo "error: $1"
        echo "rnn-serving supports Python ${supported// /, }. Choose the interpreter with PYTHON, e.g."
        echo "    make PYTHON=python3.12 ${MAKE_GOAL:-serve}    (or a path: make PYTHON=/usr/bin/python3.13 ...)"
    } >&2
    exit 2
}

have=""
if [ -x "$venv/bin/python" ]; then
    have=$(version_of "$venv/bin/python" || true)
fi
if [ -n "$have" ] && is_supported "$have"; then
    if [ "$explicit" != 1 ]; then
        exit 0
    fi
    if [ "$(version_of "$python" || true)" = "$have" ]; then
        exit 0
    fi
fi

command -v "$python" >/dev/null 2>&1 || fail "PYTHON=$python: no such command."
if ! want=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>&1); then
    fail "PYTHON=$python does not run:
$(printf '%s\n' "$want" | sed 's/^/    /')"
fi
is_supported "$want" || fail "PYTHON=$python is Python $want."

if [ -e "$venv" ] || [ -L "$venv" ]; then
    maker="a Python that no longer runs"
    [ -z "$have" ] || maker="Python $have"
    echo "$venv was made by $maker: rebuilding it with $python (Python $want)" >&2
    rm -rf "$venv"
fi
echo "creating $venv with $python (Python $want)" >&2
if ! "$python" -m venv "$venv"; then
    rm -rf "$venv"
    fail "$python -m venv failed (on Debian or Ubuntu: apt-get install python${want%.*}-venv)."
fi
"$venv/bin/python" -m pip install -q --upgrade pip
