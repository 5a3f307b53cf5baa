#!/bin/bash
# On the controller: the dependencies of this project's wheel, at the versions the controller's
# own environment has (pip freeze as constraints), for a client VM to install without an index.
#   wheelhouse.sh PYTHON WHEEL OUT_DIR    writes OUT_DIR/constraints.txt and
#                                         OUT_DIR/wheelhouse.tar (the wheels, flat); prints
#                                         "built" or "kept" (already there for these versions)
set -euo pipefail
python=$1 wheel=$2 out=$3
mkdir -p "$out"
"$python" -m pip freeze --exclude-editable | grep -v '^sshapi[-_]bench' > "$out/constraints.txt.new"
if [ -f "$out/wheelhouse.tar" ] && cmp -s "$out/constraints.txt.new" "$out/constraints.txt"; then
  rm -f "$out/constraints.txt.new"; echo kept; exit 0
fi
mv "$out/constraints.txt.new" "$out/constraints.txt"
rm -rf "$out/wheels" && mkdir "$out/wheels"
# pip's notes about index locations that do not exist on this machine are noise here.
"$python" -m pip download --quiet --disable-pip-version-check -d "$out/wheels" \
  -c "$out/constraints.txt" "$wheel" 2> >(grep -v "^WARNING: Location" >&2)
rm -f "$out/wheels/$(basename "$wheel")"
tar -C "$out/wheels" -cf "$out/wheelhouse.tar.new" . && mv "$out/wheelhouse.tar.new" "$out/wheelhouse.tar"
rm -rf "$out/wheels"
echo built
