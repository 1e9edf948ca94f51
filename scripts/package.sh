#!/usr/bin/env bash
# Writes the four ways to install chromatica into target/dist/, for one platform: Linux x86_64
# by default; another is one row of docs/recipes/release.yml, which sets CHROMATICA_TARGET (the
# Rust target), CHROMATICA_NPM_PLATFORM (npm's os-cpu) and CHROMATICA_WHEEL_PLATFORM (the wheel tag):
#   chromatica-VERSION-x86_64-unknown-linux-musl.tar.gz (+ .sha256)  a static binary, app embedded
#   chromatica-VERSION.tgz + chromatica-cli-linux-x64-VERSION.tgz    npm: `npx chromatica`
#   chromatica-VERSION-py3-none-<platform>.whl                       pip: `chromatica`, `python -m chromatica`
#   index-builder-VERSION.crate + chromatica-core-VERSION.crate      `cargo install` with stable Rust only
# Installs what it needs first (scripts/setup.sh, the musl target). `bash scripts/test-packages.sh`
# installs each into a fresh prefix and builds a site with it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh  # say, die, PATH

target=${CHROMATICA_TARGET:-x86_64-unknown-linux-musl}
npm_platform=${CHROMATICA_NPM_PLATFORM:-linux-x64}
wheel_platform=${CHROMATICA_WHEEL_PLATFORM:-manylinux_2_17_x86_64.musllinux_1_1_x86_64}
exe=chromatica
case $target in *windows*) exe=chromatica.exe ;; esac
dist=target/dist
version=$(awk -F'"' '/^\[workspace.package\]/ { p = 1 } p && $1 ~ /^version/ { print $2; exit }' Cargo.toml)
[ -n "$version" ] || die "no [workspace.package] version in Cargo.toml"

bash scripts/setup.sh
if ! rustup target list --installed | grep -qx "$target"; then
  say "adding the Rust target $target (static binaries)"
  rustup target add "$target" || die "'rustup target add $target' failed"
fi

say "web app"
bash scripts/build-web.sh
# Never ship an app older than its sources (the same rule index-builder/build.rs enforces).
APP_SOURCES="web crates/core/src crates/core/Cargo.toml crates/worker public Cargo.lock scripts/build-web.sh"
newer=$(find $APP_SOURCES -newer target/web-dist.stamp -type f -print -quit)
[ -z "$newer" ] || die "target/web-dist is older than $newer"

rm -rf "$dist" && mkdir -p "$dist"

say "static binary ($target)"
cargo build --release --locked --target "$target" -p index-builder
binary=target/$target/release/$exe
case $target in
  # No shared libraries needed (ldd says "statically linked" or "not a dynamic executable").
  *linux-musl) if readelf -d "$binary" | grep -q NEEDED; then die "$binary needs shared libraries: $(ldd "$binary" | tr '\n' ' ')"; fi ;;
esac
name=chromatica-$version-$target
mkdir -p "$dist/$name"
cp "$binary" README.md "$dist/$name/"
tar -C "$dist" -czf "$dist/$name.tar.gz" "$name"
rm -rf "${dist:?}/$name"
(cd "$dist" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")

say "npm packages"
fill() { sed -e "s/@VERSION@/$version/g" -e "s/@TARGET@/$npm_platform/g" -e "s/@OS@/${npm_platform%-*}/g" -e "s/@CPU@/${npm_platform#*-}/g" "$1"; }
npm_dir=$dist/npm
mkdir -p "$npm_dir/platform/bin" "$npm_dir/chromatica/bin"
fill packaging/npm/platform/package.json.in > "$npm_dir/platform/package.json"
install -m 755 "$binary" "$npm_dir/platform/bin/$exe"
# The main package names every platform package (npm installs the one matching the machine); a
# release lists all of them (CHROMATICA_NPM_PLATFORMS), a local build the one it made.
deps=""
for p in ${CHROMATICA_NPM_PLATFORMS:-$npm_platform}; do deps="$deps${deps:+,\n}    \"@chromatica/cli-$p\": \"$version\""; done
fill packaging/npm/chromatica/package.json.in | awk -v deps="$deps" '{ if ($0 == "@OPTIONAL_DEPENDENCIES@") print deps; else print }' > "$npm_dir/chromatica/package.json"
install -m 755 packaging/npm/chromatica/bin/chromatica.js "$npm_dir/chromatica/bin/chromatica.js"
cp README.md "$npm_dir/chromatica/"
(cd "$npm_dir/platform" && npm pack --silent --pack-destination ../.. >/dev/null)
(cd "$npm_dir/chromatica" && npm pack --silent --pack-destination ../.. >/dev/null)
rm -rf "$npm_dir"

say "Python wheel"
python3 packaging/python/make_wheel.py "$version" "$binary" "$dist" "$wheel_platform" >/dev/null

say "crates (the web app packaged inside index-builder)"
# build.rs embeds target/web-dist when it exists, else this copy (in the .crate).
rm -rf index-builder/web-dist && cp -r target/web-dist index-builder/web-dist
trap 'rm -rf index-builder/web-dist' EXIT
cargo package --locked --allow-dirty --no-verify -p chromatica-core -p index-builder >/dev/null
cp "target/package/chromatica-core-$version.crate" "target/package/index-builder-$version.crate" "$dist/"

say "target/dist"
ls -l "$dist" | awk 'NR > 1 { printf "  %10d  %s\n", $5, $9 }'
