# Sourced by every script: project-local tool paths and caches, so nothing lands in ~/.bun.
# shellcheck shell=bash
WITHCACHE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WITHCACHE_ROOT
export ZIG_VERSION="0.16.0" # the one place the Zig version is pinned
export VERSITYGW_VERSION="v1.8.0" # the S3 server of the tests (scripts/setup --test)
export PATH="$WITHCACHE_ROOT/node_modules/.bin:$WITHCACHE_ROOT/.tools/bin:$PATH"
export BUN_INSTALL_CACHE_DIR="$WITHCACHE_ROOT/.cache/bun-install"
export BUN_RUNTIME_TRANSPILER_CACHE_PATH="$WITHCACHE_ROOT/.cache/bun-transpiler"
export ZIG_GLOBAL_CACHE_DIR="$WITHCACHE_ROOT/.cache/zig-global"
export ZIG_LOCAL_CACHE_DIR="$WITHCACHE_ROOT/zig/.zig-cache"
# One set of compile flags for every build of the binary (scripts/build, scripts/release).
# --bytecode (needs esm + splitting for our lazy imports) cuts start-up from ~35 ms to ~10 ms,
# which every shimmed curl/wget pays. The autoload flags stop a stray .env or bunfig.toml in the
# user's working directory from changing the binary (e.g. leaking HTTP_PROXY).
BUN_COMPILE_FLAGS=(--compile --minify --sourcemap=none --bytecode --format=esm --splitting
  --no-compile-autoload-dotenv --no-compile-autoload-bunfig)
