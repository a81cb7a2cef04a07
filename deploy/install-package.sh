#!/bin/sh
# Install one Brandcast package, and exactly the dependencies uv.lock pins for it, into a new venv.
#
#   deploy/install-package.sh PACKAGE VENV      e.g. deploy/install-package.sh brandcast-sms /opt/venv
#
# Run it from the workspace root (the folder holding uv.lock) with the package's and the shared
# library's sources beside it; the other services' pyproject.toml files are enough for uv to read
# the workspace. Every service's Dockerfile runs this script in its builder stage, and
# tests/deploy/test_images.py runs it the same way in a clean folder, so CI proves that a package
# installs alone with only what it declares.
#
# PYTHON picks the interpreter of the venv (default: python3 on PATH); the venv must be created by
# the same interpreter path that runs it later, which is why the Dockerfile builds on the same
# python image as they run on.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 PACKAGE VENV" >&2
    exit 2
fi
package=$1
venv=$2

requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT

# --frozen installs what uv.lock pins and never re-resolves: an image matches the tested lock.
# --no-editable: the venv is copied alone into the runtime image, without the sources.
uv export --frozen --no-dev --no-editable --package "$package" \
    --format requirements-txt --quiet --output-file "$requirements"

uv venv --quiet --python "${PYTHON:-python3}" "$venv"
# --no-deps: the export already is the complete closure, so nothing unpinned sneaks in;
# uv checks every PyPI artefact against the hashes in the export.
uv pip install --quiet --python "$venv/bin/python" --no-deps --requirement "$requirements"
