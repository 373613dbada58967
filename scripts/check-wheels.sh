#!/usr/bin/env bash
# Fails unless every pinned requirement, and every one of their dependencies, installs from a
# wheel on each supported CPython (3.11, 3.12, 3.13) on x86_64 Linux with glibc up to 2.36
# (Debian 12): an sdist would need a compiler and headers on the user's machine, and an old pin
# (grpcio 1.56.2, say) often has wheels for old Pythons only.
#   scripts/check-wheels.sh [requirements file ...]   (default: requirements-dev.txt, which
#                                                    includes requirements.txt, and
#                                                    requirements-lint.txt)
# The wheels are downloaded into $ENVSTACK_CACHE/wheels/<key>/cp3XX, keyed by the hash of the
# requirement files (and of the files they include) and of this script, and a passing Python is
# remembered there, so a run with nothing changed asks no registry anything.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

pythons=(3.11 3.12 3.13)
[ $# -gt 0 ] || set -- requirements-dev.txt requirements-lint.txt

# pip matches --platform tags exactly (it only adds manylinux2010/manylinux1 for manylinux2014),
# so every manylinux_2_X a Debian 12 machine accepts is listed; newer ones (2_38, 2_39 ...) are
# not, as they would not install there.
platforms=(--platform manylinux2014_x86_64)
for minor in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done

# The files named and the ones they include with -r, one level deep as in this repository.
files=()
for f in "$@"; do
  files+=("$f")
  while read -r inc; do
    files+=("$(dirname "$f")/$inc")
  done < <(sed -n 's/^-r[[:space:]]*//p' "$f")
done
key=$(cat "${files[@]}" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
cache_root=${ENVSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/envstack}
dir="$cache_root/wheels/$key"

reqs=()
for f in "$@"; do reqs+=(-r "$f"); done
python=${PYTHON:-$(command -v python || command -v python3)}

failed=()
for v in "${pythons[@]}"; do
  tag="cp${v/./}"
  if [ -f "$dir/$tag.ok" ]; then
    continue
  fi
  echo "check-wheels: CPython $v: resolving ${*} from wheels only" >&2
  log="$dir/$tag.log"
  mkdir -p "$dir/$tag"
  if "$python" -m pip download --disable-pip-version-check -q --only-binary=:all: \
      --implementation cp --python-version "$v" "${platforms[@]}" \
      -d "$dir/$tag" "${reqs[@]}" >"$log" 2>&1; then
    touch "$dir/$tag.ok"
  else
    echo "check-wheels: CPython $v: FAILED, not installable from wheels alone:" >&2
    grep -E '^ERROR' "$log" | sed 's/^/  /' >&2 || tail -n 20 "$log" >&2
    failed+=("$v")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "check-wheels: no wheel-only install on CPython ${failed[*]}" >&2
  exit 1
fi
echo "check-wheels: ${*}: wheels only on CPython ${pythons[*]}" >&2
