#!/usr/bin/env bash
# The whole test suite: lint, types, then every test. Exits non-zero on any failure.
set -uo pipefail
venv=${1:-.venv}
bin="$venv/bin"
status=0

echo "== ruff check"; "$bin/ruff" check src tests benchmarks || status=1
echo "== ruff format --check"; "$bin/ruff" format --check src tests benchmarks || status=1
echo "== mypy"; "$bin/mypy" || status=1

echo "== pytest"
"$bin/python" -m pytest -p no:cacheprovider tests  # extra options: PYTEST_ADDOPTS
rc=$?
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests"  # not a failure of the code, but say it loudly
  rc=0
fi
[ $rc -ne 0 ] && status=$rc
exit $status
