#!/usr/bin/env bash
# test_install.sh — the installed package, used as an outside project would use it:
#   1. `meson install` into a temporary root; every public header of the tree is installed;
#   2. the embedding example (examples/embedding.cpp, shown whole in docs/EMBEDDING.md) is
#      built against it with `pkg-config --cflags --libs vitune`, and with dependency('vitune')
#      from a separate meson project, and both programs run: LoRA on a ViT, five steps, adapter
#      saved and reloaded with identical logits;
#   3. docs/EMBEDDING.md shows examples/embedding.cpp verbatim.
# Usage (meson test runs it): test_install.sh SOURCE_ROOT BUILD_ROOT MAKE_CHECKPOINT_EXE
set -euo pipefail
src=$1 build=$2 make_ckpt=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say() { printf '== %s\n' "$*"; }

say "meson install into $tmp/root"
meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" >/dev/null
pc=$(find "$tmp/root" -name vitune.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL: no vitune.pc installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
inc=$(find "$tmp/root" -type d -path '*/include/vitune' | head -n 1)
libdir=$(dirname "$(find "$tmp/root" -name 'libvitune_engine.so' | head -n 1)")
for lib in vitune_engine vitune_nn vitune_peft vitune_tasks; do
  [ -e "$libdir/lib$lib.so" ] || { echo "FAIL: lib$lib.so not installed in $libdir"; exit 1; }
done

say "every public header is installed"
missing=0
while IFS= read -r h; do
  [ -f "$inc/$h" ] || { echo "FAIL: $h is not installed"; missing=1; }
done < <(cd "$src" && find engine nn peft tasks -name '*.h' -not -path 'engine/cpu/*' -not -path 'engine/cuda/*' -not -path 'engine/ops/*' | sort)
[ "$missing" = 0 ]

# The .pc file as installed, moved to the temporary root (a real install needs none of this).
mkdir -p "$tmp/pc"
sed "s|^prefix=.*|prefix=$tmp/root$prefix|" "$pc" > "$tmp/pc/vitune.pc"
export PKG_CONFIG_PATH="$tmp/pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=$(pkg-config --cflags --libs vitune)
echo "pkg-config --cflags --libs vitune: $flags"

say "build the embedding example with pkg-config, outside the source tree"
mkdir -p "$tmp/outside"
cp "$src/examples/embedding.cpp" "$tmp/outside/"
(cd "$tmp/outside" && g++ -std=c++17 -O1 embedding.cpp $flags -o embedding)

say "run it on a ViT checkpoint in timm's names"
"$make_ckpt" vit_test_tiny "$tmp/vit.safetensors"
out=$(cd "$tmp" && LD_LIBRARY_PATH="$libdir" ./outside/embedding vit_test_tiny vit.safetensors lora-a)
echo "$out"
grep -q "reloaded logits differ by 0$" <<<"$out"
[ -f "$tmp/lora-a/adapter_config.json" ] && [ -f "$tmp/lora-a/adapter_model.safetensors" ]

say "build it again from a meson project with dependency('vitune')"
mkdir -p "$tmp/mesonproj"
cp "$src/examples/embedding.cpp" "$tmp/mesonproj/"
cat > "$tmp/mesonproj/meson.build" <<'MESON'
project('outside', 'cpp', default_options: ['cpp_std=c++17', 'buildtype=plain'])
executable('embedding', 'embedding.cpp', dependencies: dependency('vitune'))
MESON
meson setup "$tmp/mesonproj/build" "$tmp/mesonproj" >/dev/null
meson compile -C "$tmp/mesonproj/build" >/dev/null
out=$(cd "$tmp" && LD_LIBRARY_PATH="$libdir" ./mesonproj/build/embedding vit_test_tiny vit.safetensors lora-b)
grep -q "reloaded logits differ by 0$" <<<"$out"

say "docs/EMBEDDING.md shows examples/embedding.cpp verbatim"
python3 - "$src/docs/EMBEDDING.md" "$src/examples/embedding.cpp" <<'PY'
import sys
doc, code = (open(p).read() for p in sys.argv[1:3])
if code.strip() not in doc:
    sys.exit("FAIL: docs/EMBEDDING.md does not contain examples/embedding.cpp verbatim")
PY
echo "install test: OK"
