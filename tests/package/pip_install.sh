#!/usr/bin/env bash
# ctest: `pip install .` into a fresh venv made with --system-site-packages (Debian's torch), reusing the finished
# build (PLURAL_PREBUILT_DIR, so nothing compiles twice), then the README's quickstart, the console script and the
# bundled data from outside the source tree; the package folder moved elsewhere still works (relocatable); a venv
# without torch is refused with one message naming what to install.
set -euo pipefail
src=$1; build_dir=$(cd "$2" && pwd); here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
trap 'echo "pip_install.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
unset PYTHONPATH PLURAL_CLI PLURAL_MODELS PLURAL_DATA_DIR
pip_install() {  # venv, log
  "$1/bin/pip" install --disable-pip-version-check --no-cache-dir --quiet "$src" \
    --config-settings=cmake.define.PLURAL_PREBUILT_DIR="$build_dir" > "$2" 2>&1
}

/usr/bin/python3 -m venv --system-site-packages "$work/venv"
start=$(date +%s)
pip_install "$work/venv" "$work/pip.log" || { cat "$work/pip.log"; exit 1; }
echo "pip install . took $(( $(date +%s) - start )) s"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
pkg=$site/plural
# The wheel carries this build's binaries byte for byte: packaged, not compiled again.
cmp "$build_dir/plural" "$pkg/bin/plural"
cmp "$build_dir/libplural.so" "$pkg/lib/libplural.so"
cmp "$build_dir"/python/plural/_core.*.so "$pkg"/_core.*.so

cd "$work"
[[ $("$work/venv/bin/plural" --version) == "plural "* ]]
"$work/venv/bin/plural" import persona-k --k 2 --seen-users 6 --unseen-users 0 -o pk.h5 > /dev/null
"$work/venv/bin/python" "$here/quickstart.py" "$pkg"

# Relocatable: the package folder copied elsewhere loads its own library, data and scripts.
mkdir "$work/moved" && cp -r "$pkg" "$work/moved/plural"
rm -rf "$work/venv"
libs=$(ldd "$work/moved/plural/bin/plural")  # not piped into grep -q: pipefail would catch ldd's SIGPIPE
[[ $libs == *"libplural.so => $work/moved/plural/bin/../lib/libplural.so"* ]]
"$work/moved/plural/bin/plural" import ukp -o ukp.h5 > /dev/null
"$work/moved/plural/bin/plural" doctor data pk.h5 --png report.png > /dev/null
test -s report.png
PYTHONPATH="$work/moved" /usr/bin/python3 -c "
import plural, sys
assert plural.__file__.startswith('$work/moved/'), plural.__file__
assert plural.data_path('ukpconvarg1').startswith('$work/moved/')
assert plural.server.find_cli() == '$work/moved/plural/bin/plural'
print(len(plural.ukp().user_ids), 'UKP workers from the moved package')"

# A venv that cannot import torch gets one clear error before anything is built.
/usr/bin/python3 -m venv "$work/bare"
if pip_install "$work/bare" "$work/bare.log"; then echo "pip install into a venv without torch succeeded"; exit 1; fi
grep -q "cannot import torch" "$work/bare.log" || { cat "$work/bare.log"; exit 1; }
grep -q "python3-torch" "$work/bare.log"
grep -q -- "--system-site-packages" "$work/bare.log"
echo "pip install .: ok"
