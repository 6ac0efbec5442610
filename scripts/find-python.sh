#!/usr/bin/env bash
# Print the path of a Python >= 3.13: plain python3.13, python3 if new enough, or pyenv's.
set -euo pipefail
is_new_enough() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; }
for candidate in "${PYTHON:-}" python3.14 python3.13 python3; do
  [ -n "$candidate" ] || continue
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if is_new_enough "$path"; then echo "$path"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  for version in $(pyenv versions --bare 2>/dev/null | sort -rV); do
    path="$(pyenv root)/versions/$version/bin/python3"
    if [ -x "$path" ] && is_new_enough "$path"; then echo "$path"; exit 0; fi
  done
fi
echo "Vitrine needs Python >= 3.13 (mongoeco requires it). Install python3.13 or set PYTHON=/path/to/python3.13." >&2
exit 1
