#!/usr/bin/env bash
# The suite on every CPython 3.10-3.13 that pyenv or the PATH offers, each in its own venv,
# then once more on the oldest requests, httpx, PyJWT, responses, respx and aiohttp that
# pyproject.toml allows.
set -euo pipefail
cd "$(dirname "$0")/.."
found=0
for version in 3.10 3.11 3.12 3.13; do
  python=""
  if command -v pyenv >/dev/null 2>&1; then
    prefix=$(pyenv prefix "$(pyenv versions --bare | grep -E "^${version//./\\.}(\.[0-9]+)?$" | tail -n 1)" 2>/dev/null || true)
    [[ -n $prefix && -x $prefix/bin/python ]] && python=$prefix/bin/python
  fi
  [[ -z $python ]] && python=$(command -v "python$version" || true)
  [[ -z $python ]] && { echo "== Python $version: not installed, skipped"; continue; }
  found=$((found + 1))
  venv=.venv-test/$version
  echo "== Python $version ($python)"
  [[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e ".[testing,redis,dev]"
  "$venv/bin/python" -m pytest -q -p no:randomly
done
echo "== oldest allowed dependencies, Python 3.10"
oldest=.venv-test/oldest
python310=$(ls .venv-test/3.10/bin/python 2>/dev/null || command -v python3)
[[ -x $oldest/bin/python ]] || "$python310" -m venv "$oldest"
"$oldest/bin/python" -m pip install --quiet --upgrade pip
"$oldest/bin/python" -m pip install --quiet -e ".[testing,dev]"
"$oldest/bin/python" -m pip install --quiet "requests==2.28.0" "httpx==0.24.0" "PyJWT==2.6.0" \
  "responses==0.23.1" "respx==0.20.2" "aiohttp==3.12.2"
"$oldest/bin/python" -m pytest -q
echo "== ran on $found interpreters and the oldest dependencies"
