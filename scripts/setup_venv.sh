#!/usr/bin/env bash
# Create or update .venv (Python 3.12) with every version taken from
# requirements/constraints.txt. Called by `make venv`; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
C=requirements/constraints.txt

is_py312() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; }

find_python312() {
    local cand
    # PYTHON312 may point at an interpreter explicitly.
    for cand in "${PYTHON312:-}" "$(command -v python3.12 || true)" \
        $( { command -v pyenv >/dev/null && ls -d "$(pyenv root)"/versions/3.12*/bin/python3.12; } 2>/dev/null | sort -rV) \
        $(ls -d "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -rV); do
        if is_py312 "$cand"; then echo "$cand"; return 0; fi
    done
    return 1
}

if ! is_py312 "$VENV/bin/python"; then
    if ! PY=$(find_python312); then
        echo "ERROR: Python 3.12 is required (ttnn ships wheels only for CPython 3.10 and 3.12)." >&2
        echo "Install it, e.g. 'pyenv install 3.12' or 'apt-get install python3.12 python3.12-venv'," >&2
        echo "or point PYTHON312=/path/to/python3.12 at one, then re-run 'make venv'." >&2
        exit 1
    fi
    echo "Creating $VENV with $PY"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

PIP=("$VENV/bin/python" -m pip install --progress-bar off -c "$C")
"${PIP[@]}" --upgrade pip
# torch first and on its own, so no later range can pull a different build.
"${PIP[@]}" torch
"${PIP[@]}" -r requirements/runtime.txt -r requirements/test.txt
# lerobot (tests only) declares torch<2.12 and numpy>=2: skip its metadata;
# the packages it really needs are in requirements/test.txt.
"${PIP[@]}" --no-deps lerobot
# tt-perf-report (tests only) pins matplotlib==3.10.9 while ttnn's stack has 3.11.2; it needs only pandas, which
# ttnn already brings, and imports matplotlib optionally (plots).
"${PIP[@]}" --no-deps tt-perf-report
# The project itself, built with the venv's pinned setuptools.
"${PIP[@]}" --no-deps --no-build-isolation -e .

touch "$VENV/.installed"
echo "$VENV is ready."
