// Named limits for every fixed buffer. Anything beyond them makes the shim pass the command
// through untouched (the real tool then sees exactly what the user typed); it never crashes.
const shared = @import("tool_options").limits;

// The planner's limits are shared with the TypeScript planner (src/core/tool-options.json), so
// both pass the same oversized commands through.
/// Longest origin URL we rewrite (the cache-host answers 414 beyond it).
pub const url_bytes_max = shared.url_bytes_max;
/// Longest cache URL we probe: beyond it the request would not fit the cache-host's request head
/// (Bun.serve answers 431 at 16 KiB), so the URL could never hit; it is not a candidate.
pub const cache_url_bytes_max = shared.cache_url_bytes_max;
/// Most URL candidates in one command; more → the command passes through.
pub const url_count_max = shared.candidates_max;
/// Most arguments in one command; more → the command passes through.
pub const arg_count_max = shared.argv_count_max;
/// Longest single argument; longer → the command passes through.
pub const arg_bytes_max = shared.arg_bytes_max;
/// Longest path we build for the real tool ($PATH entry + "/" + name); PATH_MAX on Linux.
pub const path_bytes_max = 4096;
/// Working memory for one plan (rewritten URLs, probe requests); beyond it → pass through.
pub const plan_arena_bytes = 4 * 1024 * 1024;
/// Longest server value (CURLWITHCACHE_SERVER etc.) we plan with; longer → pass-through.
pub const server_bytes_max = 4096;
/// Bytes of a probe response we read: only the status line matters (the TypeScript probe gives
/// up on a status line longer than 4096 bytes too).
pub const response_head_bytes_max = 4096;
/// Environment entries we copy to add WITHCACHE_SHIM_SEEN; beyond it the environment is passed
/// on unchanged.
pub const env_count_max = 8192;
