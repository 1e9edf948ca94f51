#!/usr/bin/env bash
# Installs each artifact of target/dist/ (made by scripts/package.sh) into a fresh prefix, with
# PATH stripped of cargo, rustup and this repository, and builds the demo site and searches it
# with the installed `chromatica`: the static binary (no dynamic dependencies), npm (`npx
# chromatica`), pip (a fresh venv), and `cargo install --path` on the unpacked .crate with the
# stable toolchain alone (no wasm32 target, no wasm-bindgen or binaryen on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh  # say, die
repo=$PWD
dist=$repo/target/dist
version=$(awk -F'"' '/^\[workspace.package\]/ { p = 1 } p && $1 ~ /^version/ { print $2; exit }' Cargo.toml)
# Outside the repository: an unpacked crate inside it would be taken for a workspace member.
scratch=$(mktemp -d -t chromatica-packages.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
python=$(python3 -c 'import sys; print(sys.executable)')
# Debian's python3 lacks venv until python3-venv is installed.
if ! "$python" -m venv --help >/dev/null 2>&1; then
  say "installing python3-venv (Debian package) for the wheel's test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv || die "python3 -m venv is not available"
fi
node_dir=$(dirname "$(command -v node)")
clean_path="/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
case ":$clean_path:" in *":$node_dir:"*) ;; *) clean_path="$clean_path:$node_dir" ;; esac

passed=0 failed=0
# check NAME DIR COMMAND...: with the clean PATH, in DIR, `COMMAND build` the demo images and
# `COMMAND search` the site; the red demo photo must come first for a red query.
check() {
  local name=$1 dir=$2
  shift 2
  say "$name: $* build + search"
  if (cd "$dir" && env -i HOME="$scratch/home" PATH="$clean_path" CHROMATICA_CACHE_DIR="$scratch/cache" "$@" --version &&
      env -i HOME="$scratch/home" PATH="$clean_path" CHROMATICA_CACHE_DIR="$scratch/cache" "$@" build "$repo/demo-images" --out "$dir/site" --json >"$dir/build.json" &&
      env -i HOME="$scratch/home" PATH="$clean_path" "$@" search "$dir/site" --colors D62828 -k 3 --json >"$dir/search.json" &&
      "$python" -c 'import json, sys
b = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
assert b["indexed"] > 100 and not b["skipped"], b["indexed"]
assert s["results_count"] == 3 and s["metadata"]["index_size"] == b["indexed"], s["metadata"]' "$dir/build.json" "$dir/search.json" &&
      [ -f "$dir/site/index.html" ] && [ -f "$dir/site/chromatica_bg.wasm" ]); then
    echo "ok - $name"
    passed=$((passed + 1))
  else
    echo "not ok - $name"
    failed=$((failed + 1))
  fi
}

# The static binary.
mkdir -p "$scratch/static"
tar -C "$scratch/static" -xzf "$dist/chromatica-$version-x86_64-unknown-linux-musl.tar.gz"
(cd "$dist" && sha256sum -c --quiet "chromatica-$version-x86_64-unknown-linux-musl.tar.gz.sha256")
static=$scratch/static/chromatica-$version-x86_64-unknown-linux-musl/chromatica
if readelf -d "$static" | grep -q NEEDED; then die "the static binary needs shared libraries: $(ldd "$static")"; fi
ldd "$static" 2>&1 | grep -Eq "statically linked|not a dynamic executable" || die "ldd lists dependencies of the static binary"
check "static binary" "$scratch/static" "$static"

# The static binary is built without libheif: it builds the other images of a folder and skips
# HEIC with a reason that says how to read them.
say "static binary: a HEIC is skipped with a reason"
mkdir -p "$scratch/heic"
cp "$repo/demo-images/$(ls "$repo/demo-images" | grep -m1 '\.jpg$')" "$scratch/heic/photo.jpg"
if heif-enc -q 50 "$scratch/heic/photo.jpg" -o "$scratch/heic/photo.heic" >/dev/null &&
   env -i HOME="$scratch/home" PATH="$clean_path" CHROMATICA_CACHE_DIR="$scratch/cache" "$static" build "$scratch/heic" --out "$scratch/heic-site" --json >"$scratch/heic.json" &&
   "$python" -c 'import json, sys
b = json.load(open(sys.argv[1]))
assert b["indexed"] == 1 and len(b["skipped"]) == 1, b
assert "libheif" in b["skipped"][0]["reason"], b["skipped"]' "$scratch/heic.json"; then
  echo "ok - static binary skips HEIC with a reason"
  passed=$((passed + 1))
else
  echo "not ok - static binary skips HEIC with a reason"
  failed=$((failed + 1))
fi

# npm: the package and its Linux x64 platform package, from the tarballs.
mkdir -p "$scratch/npm"
(cd "$scratch/npm" && env -i HOME="$scratch/home" PATH="$clean_path" npm install --no-audit --no-fund --loglevel=error \
  "$dist/chromatica-cli-linux-x64-$version.tgz" "$dist/chromatica-$version.tgz" >/dev/null)
check "npm (npx chromatica)" "$scratch/npm" npx --no-install chromatica

# pip: a fresh virtual environment.
"$python" -m venv "$scratch/venv"
env -i HOME="$scratch/home" PATH="$clean_path" "$scratch/venv/bin/pip" install --quiet --no-index "$dist"/chromatica-"$version"-py3-none-*.whl
check "pip (console script)" "$scratch/venv" "$scratch/venv/bin/chromatica"
check "pip (python -m chromatica)" "$scratch/venv" "$scratch/venv/bin/python" -m chromatica

# The docs-site recipe (docs/recipes/docs-site.md) with the pip package: MkDocs copies the
# gallery beside the pages, and a page embeds the widget.
say "recipe: an MkDocs site embedding a gallery built by the pip package"
docs=$scratch/mkdocs
mkdir -p "$docs/docs"
printf 'site_name: Demo\n' > "$docs/mkdocs.yml"
printf '# Photos\n\n<div data-chromatica="gallery/"></div>\n<script src="gallery/embed.js"></script>\n' > "$docs/docs/index.md"
if env -i HOME="$scratch/home" PATH="$clean_path" "$scratch/venv/bin/pip" install --quiet --disable-pip-version-check mkdocs &&
   (cd "$docs" && env -i HOME="$scratch/home" PATH="$scratch/venv/bin:$clean_path" CHROMATICA_CACHE_DIR="$scratch/cache" \
     sh -c 'chromatica build "$0/demo-images" --out docs/gallery --no-originals --json >/dev/null && mkdocs build --quiet' "$repo") &&
   grep -q 'data-chromatica="gallery/"' "$docs/site/index.html" &&
   [ -f "$docs/site/gallery/embed.js" ] && [ -f "$docs/site/gallery/chromatica_bg.wasm" ] && [ -f "$docs/site/gallery/index/head.bin" ]; then
  echo "ok - recipe: MkDocs"
  passed=$((passed + 1))
else
  echo "not ok - recipe: MkDocs"
  failed=$((failed + 1))
fi

# cargo install from the unpacked crates, stable Rust only (its own bin folder, not ~/.cargo/bin,
# which also holds wasm-bindgen). chromatica-core is not on crates.io: patched to its .crate.
stable=$(rustup run stable rustc --print sysroot)/bin
mkdir -p "$scratch/crate"
tar -C "$scratch/crate" -xzf "$dist/chromatica-core-$version.crate"
tar -C "$scratch/crate" -xzf "$dist/index-builder-$version.crate"
say "cargo install --path index-builder-$version (stable, no wasm tools)"
env -i HOME="$HOME" PATH="$stable:$clean_path" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
  CARGO_TARGET_DIR="$repo/target/package-install" \
  cargo install --quiet --locked --path "$scratch/crate/index-builder-$version" --root "$scratch/crate/root" \
  --config "patch.crates-io.chromatica-core.path='$scratch/crate/chromatica-core-$version'"
check "cargo install (.crate)" "$scratch/crate" "$scratch/crate/root/bin/chromatica"

printf '\n%s passed, %s failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
