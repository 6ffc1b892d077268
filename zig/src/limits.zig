// Named limits for every fixed buffer. Anything beyond them makes the shim pass the command
// through untouched (the real tool then sees exactly what the user typed); it never crashes.

/// Longest origin URL we rewrite. Matches URL_BYTES_MAX in src/core/cache-key.ts: the cache-host
/// answers 414 beyond it, so such a URL can never hit anyway.
pub const url_bytes_max = 8192;
/// Longest path we build for the real tool ($PATH entry + "/" + name); PATH_MAX on Linux.
pub const path_bytes_max = 4096;
/// Most URLs in one command that we probe; curl accepts more, those commands pass through.
pub const url_count_max = 64;
/// Most arguments in one command we plan; longer commands pass through.
pub const arg_count_max = 4096;
/// Working memory for one plan (rewritten URLs, probe requests); beyond it → pass through.
pub const plan_arena_bytes = 4 * 1024 * 1024;
/// Longest server value (CURLWITHCACHE_SERVER etc.) we accept.
pub const server_bytes_max = 2048;
/// Bytes of a probe response we read: only the status line matters.
pub const response_head_bytes_max = 512;
