#!/usr/bin/env bash
# Runs the fuzz targets: `fuzz/run.sh SECONDS [TARGET...]` (all targets when none is
# named), one after the other, each for SECONDS with the committed corpus as its seed.
# New inputs go to a scratch directory (fuzz/corpus/ is left as committed; minimise and
# commit by hand, see docs/FUZZING.md); a crash or an input slower than 10 s fails the
# run, and libFuzzer writes it to fuzz/artifacts/<target>/.
#
# Stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags, and
# `--sanitizer none` needs no sanitizer runtime (libFuzzer itself is compiled by
# libfuzzer-sys with the system C++ compiler). FUZZ_JOBS=N runs N targets at once.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
export RUSTC_BOOTSTRAP=1
target_dir="${CARGO_TARGET_DIR:-$PWD/fuzz/target}/fuzz"
cargo fuzz build -O -a --sanitizer none --codegen-units 16 --target-dir "$target_dir"
# The targets are run directly: `cargo fuzz run` would ask cargo again for each one.
bin="$target_dir/x86_64-unknown-linux-gnu/release"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p fuzz/artifacts
run() {
    local target="$1"
    mkdir -p "$scratch/$target" "fuzz/artifacts/$target"
    "$bin/$target" "$scratch/$target" "fuzz/corpus/$target" \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$target/" \
        >"$scratch/$target.log" 2>&1 || { tail -n 40 "$scratch/$target.log"; return 1; }
    printf '%-16s %s\n' "$target" "$(grep -E '^stat::(number_of_executed_units|new_units_added)' "$scratch/$target.log" | tr '\n' ' ')"
}
failed=0
pids=()
for target in "${targets[@]}"; do
    run "$target" &
    pids+=($!)
    if [ "${#pids[@]}" -ge "${FUZZ_JOBS:-1}" ]; then
        wait "${pids[0]}" || failed=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
exit "$failed"
