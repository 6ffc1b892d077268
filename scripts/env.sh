# Sourced by every script: project-local tool paths and caches, so nothing lands in ~/.bun.
# shellcheck shell=bash
WITHCACHE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WITHCACHE_ROOT
export ZIG_VERSION="0.16.0" # the one place the Zig version is pinned
export PATH="$WITHCACHE_ROOT/node_modules/.bin:$WITHCACHE_ROOT/.tools/bin:$PATH"
export BUN_INSTALL_CACHE_DIR="$WITHCACHE_ROOT/.cache/bun-install"
export BUN_RUNTIME_TRANSPILER_CACHE_PATH="$WITHCACHE_ROOT/.cache/bun-transpiler"
export ZIG_GLOBAL_CACHE_DIR="$WITHCACHE_ROOT/.cache/zig-global"
export ZIG_LOCAL_CACHE_DIR="$WITHCACHE_ROOT/zig/.zig-cache"
