#!/bin/bash
# On the controller: the dependencies of this project's wheel, at the versions of the
# project's lock (requirements.lock), for a client VM to install with their hashes checked.
#   wheelhouse.sh PYTHON WHEEL OUT_DIR LOCK   writes OUT_DIR/requirements.txt (the lock's
#                                             entries, hashes included, for exactly what the
#                                             wheel needs) and OUT_DIR/wheelhouse.tar (those
#                                             wheels, flat); prints "built" or "kept"
#                                             (already there for these versions)
set -euo pipefail
python=$1 wheel=$2 out=$3 lock=$4
mkdir -p "$out"
# The lock's name==version lines, without hashes: what the resolution below may choose.
sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*==[^ \\;]*\).*/\1/p' "$lock" > "$out/constraints.txt.new"
if [ -f "$out/wheelhouse.tar" ] && [ -f "$out/requirements.txt" ] \
    && cmp -s "$out/constraints.txt.new" "$out/constraints.txt"; then
  rm -f "$out/constraints.txt.new"; echo kept; exit 0
fi
mv "$out/constraints.txt.new" "$out/constraints.txt"
rm -rf "$out/wheels" && mkdir "$out/wheels"
# pip's notes about index locations that do not exist on this machine are noise here.
"$python" -m pip download --quiet --disable-pip-version-check -d "$out/wheels" \
  -c "$out/constraints.txt" "$wheel" 2> >(grep -v "^WARNING: Location" >&2)
rm -f "$out/wheels/$(basename "$wheel")"
# The build backend (locked too) for a dependency that comes as source only (connection-pool):
# without an index, pip's isolated build finds it in the wheelhouse.
"$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  -d "$out/wheels" -c "$out/constraints.txt" setuptools 2> >(grep -v "^WARNING: Location" >&2)
# The lock's entries (with hashes) of every file downloaded; one missing from the lock fails.
"$python" - "$lock" "$out/wheels" > "$out/requirements.txt" <<'PY'
import pathlib, re, sys
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

lock, wheels = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
blocks = {}
for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
    if m := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", block):
        lines = [ln for ln in block.splitlines() if not ln.lstrip().startswith("#")]
        blocks[canonicalize_name(m[1])] = "\n".join(lines).rstrip(" \\\n")
for f in sorted(wheels.iterdir()):
    parse = parse_wheel_filename if f.suffix == ".whl" else parse_sdist_filename
    name = canonicalize_name(parse(f.name)[0])
    if name not in blocks:
        sys.exit(f"wheelhouse: {f.name} is not in {lock}: run make lock")
    print(blocks[name])
PY
tar -C "$out/wheels" -cf "$out/wheelhouse.tar.new" . && mv "$out/wheelhouse.tar.new" "$out/wheelhouse.tar"
rm -rf "$out/wheels"
echo built
