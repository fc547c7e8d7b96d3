#!/usr/bin/env bash
# Configures and builds syschaos into build/ (RelWithDebInfo, Ninja, all cores).
#   BUILD_DIR=dir   build somewhere else      BUILD_TYPE=Debug   another build type
# Extra arguments are passed to the configure step (e.g. -DSOME_OPTION=ON).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${BUILD_DIR:-build}
build_type=${BUILD_TYPE:-RelWithDebInfo}

generator=(-G Ninja)
if [[ -f $build_dir/CMakeCache.txt ]]; then
  # A tree configured earlier keeps its generator: CMake refuses to switch it in place.
  generator=()
fi
if ! command -v ninja >/dev/null 2>&1 && ((${#generator[@]})); then
  echo "build: ninja not found; run scripts/setup.sh first (falling back to make)" >&2
  generator=(-G "Unix Makefiles")
fi

cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" "$@"
cmake --build "$build_dir" -j"$(nproc)"
