// The native shim's entry, the same steps as src/shim/run.ts: argv[0] picks curl or wget; find
// the real tool; with no cache server configured exec it at once (no parsing, no network);
// otherwise plan (src/plan.zig), probe the cache-host and exec the real tool with every hit URL
// rewritten to the cache.
const std = @import("std");
const build_options = @import("build_options");
const linux = std.os.linux;
const env = @import("env.zig");
const limits = @import("limits.zig");
const plan = @import("plan.zig");
const probe = @import("probe.zig");
const resolve = @import("resolve.zig");
const sys = @import("sys.zig");
const target = @import("target.zig");
const tool_probe = @import("tool_probe.zig");
const which = @import("which.zig");

const Tool = plan.Tool;

/// Same budget as src/shim/probe.ts: a dead or slow cache costs at most about a second.
const probe_connect_timeout_ms = 300;
const probe_total_timeout_ms = 1000;

pub const plan_only_env = "WITHCACHE_PLAN_ONLY";
pub const version_arg = "--withcache-version";

/// All memory of one run lives here (in .bss: free until touched).
var arena_buf: [limits.plan_arena_bytes]u8 = undefined;
var lens: [limits.arg_count_max]u32 = undefined;
var scanned: plan.Scan = .{};
var candidates: plan.Candidates = .{};
var exec_env: [limits.env_count_max + 2]?[*:0]const u8 = undefined;

pub fn main(init: std.process.Init.Minimal) u8 {
    const args = init.args.vector;
    const envp = init.environ.block.slice;
    if (args.len == 0) sys.fatal(2, "started without argv[0]; expected to be run as curl or wget", .{});
    if (args.len == 2 and std.mem.eql(u8, std.mem.span(args[1]), version_arg)) {
        _ = sys.writeAll(1, build_options.version ++ "\n");
        return 0;
    }
    const argv0 = std.mem.span(args[0]);
    const tool = toolFromArgv0(argv0) orelse
        sys.fatal(2, "{s}: cannot tell the tool from the program name; expected a name containing curl or wget", .{argv0});
    var fba = std.heap.FixedBufferAllocator.init(&arena_buf);
    const arena = fba.allocator();

    var cwd_buf: which.Path = undefined;
    const cwd_rc = linux.getcwd(&cwd_buf, cwd_buf.len);
    const cwd: []const u8 = if (linux.errno(cwd_rc) == .SUCCESS) std.mem.sliceTo(&cwd_buf, 0) else "/";
    var real_path_buf: which.Path = undefined;
    var message_buf: [512]u8 = undefined;
    const real_path = switch (which.findRealTool(.{
        .tool_name = @tagName(tool),
        .envp = envp,
        .self = selfId(argv0),
        .cwd = cwd,
    }, &real_path_buf, &message_buf)) {
        .path => |p| p,
        .not_found => |message| {
            var line_buf: [700]u8 = undefined;
            const line = std.fmt.bufPrint(&line_buf, "{t}: withcache: {s}\n", .{ tool, message }) catch "withcache: no real tool\n";
            _ = sys.writeAll(2, line);
            return 127;
        },
    };

    // The kernel's argv array: contiguous and NULL-terminated, so the plan edits it in place.
    const argv: [*]?[*:0]const u8 = @ptrCast(@constCast(args.ptr));
    var count = args.len - 1;
    if (serverSetting(tool, envp)) |server| {
        count = planAndProbe(tool, args[1..], argv + 1, server, real_path, envp, arena);
    }
    argv[1 + count] = null;

    if (env.get(envp, plan_only_env)) |flag| if (std.mem.eql(u8, flag, "1")) {
        _ = sys.writeAll(1, real_path);
        _ = sys.writeAll(1, "\x00");
        for (argv[1 .. 1 + count]) |arg| {
            _ = sys.writeAll(1, std.mem.span(arg.?));
            _ = sys.writeAll(1, "\x00");
        }
        return 0;
    };
    // argv[0]: the name the user typed when it is exactly the tool's, else the tool's name.
    const base = if (std.mem.lastIndexOfScalar(u8, argv0, '/')) |i| argv0[i + 1 ..] else argv0;
    if (!std.mem.eql(u8, base, @tagName(tool))) argv[0] = @tagName(tool);
    const exec_envp = envForExec(envp, real_path, arena);
    const rc = linux.execve(real_path.ptr, @ptrCast(argv), exec_envp);
    var line_buf: [700]u8 = undefined;
    const line = std.fmt.bufPrint(&line_buf, "{t}: withcache: cannot run {s}: {t}\n", .{ tool, real_path, linux.errno(rc) }) catch "withcache: cannot run the real tool\n";
    _ = sys.writeAll(2, line);
    return 126;
}

/// This binary's identity: /proc/self/exe, or without /proc (initramfs, chroot) the file argv[0]
/// names when it is a path. Unknown → the seen list still stops a self-loop after one hop.
fn selfId(argv0: [:0]const u8) ?which.FileId {
    if (which.fileId("/proc/self/exe")) |id| return id;
    if (std.mem.indexOfScalar(u8, argv0, '/') != null) return which.fileId(argv0);
    return null;
}

pub fn toolFromArgv0(argv0: []const u8) ?Tool {
    const base = if (std.mem.lastIndexOfScalar(u8, argv0, '/')) |i| argv0[i + 1 ..] else argv0;
    if (std.mem.indexOf(u8, base, "curl") != null) return .curl;
    if (std.mem.indexOf(u8, base, "wget") != null) return .wget;
    return null;
}

/// The tool's own variable wins when set, even empty (empty turns the cache off for that tool).
pub fn serverSetting(tool: Tool, envp: env.Block) ?[]const u8 {
    const specific = env.get(envp, switch (tool) {
        .curl => "CURLWITHCACHE_SERVER",
        .wget => "WGETWITHCACHE_SERVER",
    });
    const value = specific orelse env.get(envp, "WITHCACHE_SERVER") orelse return null;
    return if (value.len == 0) null else value;
}

/// Plans, probes and rewrites `out` (the user's arguments, in place); returns the new count.
/// Anything beyond a limit leaves the arguments untouched.
fn planAndProbe(
    tool: Tool,
    user_args: []const [*:0]const u8,
    out: [*]?[*:0]const u8,
    server: []const u8,
    real_path: [:0]const u8,
    envp: env.Block,
    arena: std.mem.Allocator,
) usize {
    const untouched = user_args.len;
    const args = plan.measure(user_args, &lens) orelse return untouched;
    plan.scan(tool, args, &scanned);
    if (scanned.passthrough) return untouched;
    if (server.len > limits.server_bytes_max) return untouched;
    var base_buf: [limits.server_bytes_max + 16]u8 = undefined;
    const base = plan.serverBase(server, &base_buf) orelse return untouched;
    if (!plan.collectCandidates(tool, args, &scanned, base, arena, &candidates)) return untouched;
    if (candidates.count == 0) return untouched;
    var outcomes: [limits.url_count_max]probe.Outcome = undefined;
    probeAll(tool, candidates.cache_urls[0..candidates.count], outcomes[0..candidates.count], real_path, envp, arena);
    return plan.finish(tool, args, out, &scanned, &candidates, outcomes[0..candidates.count], arena);
}

/// Probes every cache URL at once within one budget. The cache URLs share one server, so they
/// share one route: direct or through an http proxy over raw sockets, or, for https (the cache
/// or the proxy), through the real tool.
fn probeAll(
    tool: Tool,
    cache_urls: []const [:0]const u8,
    outcomes: []probe.Outcome,
    real_path: [:0]const u8,
    envp: env.Block,
    arena: std.mem.Allocator,
) void {
    const deadline_ms = sys.nowMs() + probe_total_timeout_ms;
    @memset(outcomes, .down);
    var host_buf: [512]u8 = undefined;
    const first = target.parseUrl(cache_urls[0], &host_buf) orelse return;
    if (first.https) return probeWithTool(tool, cache_urls, outcomes, real_path, envp, deadline_ms);
    var scratch: [limits.server_bytes_max + 16]u8 = undefined;
    const proxy = target.proxyFor(tool, first.https, first.hostname, envp, &scratch);
    if (proxy == .unsupported) return;
    var proxy_host_buf: [512]u8 = undefined;
    if (proxy == .https) {
        _ = target.parseUrl(proxy.https, &proxy_host_buf) orelse return;
        return probeWithTool(tool, cache_urls, outcomes, real_path, envp, deadline_ms);
    }
    const proxy_url: ?target.Url = switch (proxy) {
        .http => |p| target.parseUrl(p, &proxy_host_buf) orelse return,
        else => null,
    };
    const connect_to = proxy_url orelse first;
    var addresses: [resolve.addresses_max]probe.Address = undefined;
    const address_count = resolve.resolve(connect_to.hostname, connect_to.port, &addresses, deadline_ms);
    var requests: [limits.url_count_max][]const u8 = undefined;
    for (cache_urls, requests[0..cache_urls.len]) |cache_url, *request| {
        request.* = buildRequest(arena, cache_url, proxy_url) catch return;
    }
    probe.probeAll(addresses[0..address_count], requests[0..cache_urls.len], outcomes, .{
        .connect_timeout_ms = probe_connect_timeout_ms,
        .deadline_ms = deadline_ms,
    });
}

/// An https cache (or proxy): the real tool probes, with the same deadline (see tool_probe.zig).
fn probeWithTool(
    tool: Tool,
    cache_urls: []const [:0]const u8,
    outcomes: []probe.Outcome,
    real_path: [:0]const u8,
    envp: env.Block,
    deadline_ms: i64,
) void {
    var urls: [limits.url_count_max][*:0]const u8 = undefined;
    for (cache_urls, urls[0..cache_urls.len]) |u, *p| p.* = u.ptr;
    const remaining_ms = @max(1, deadline_ms - sys.nowMs());
    var connect_buf: [32]u8 = undefined;
    var total_buf: [32]u8 = undefined;
    tool_probe.probeAll(.{
        .tool = tool,
        .real_path = real_path,
        .envp = envp.ptr,
        .connect_timeout_text = tool_probe.secondsText(&connect_buf, @min(probe_connect_timeout_ms, remaining_ms)),
        .total_timeout_text = tool_probe.secondsText(&total_buf, remaining_ms),
        .deadline_ms = deadline_ms,
    }, urls[0..cache_urls.len], outcomes);
}

/// `HEAD <target> HTTP/1.1` as src/shim/probe.ts writes it: origin-form to the cache-host, or
/// the cache URL as typed (absolute-form) to an http proxy.
fn buildRequest(arena: std.mem.Allocator, cache_url: []const u8, proxy_url: ?target.Url) ![]const u8 {
    var host_buf: [512]u8 = undefined;
    const url = target.parseUrl(cache_url, &host_buf) orelse return error.BadUrl;
    var w: std.Io.Writer.Allocating = .init(arena);
    try w.writer.writeAll("HEAD ");
    if (proxy_url != null) try w.writer.writeAll(cache_url) else try target.writeRequestTarget(&w.writer, url.path_and_query);
    try w.writer.print(" HTTP/1.1\r\nHost: {s}\r\nUser-Agent: withcache-shim\r\n", .{url.host_header});
    if (proxy_url) |p| try target.writeProxyAuth(&w.writer, p);
    try w.writer.writeAll("Connection: close\r\n\r\n");
    return w.written();
}

/// The caller's environment plus this hop in WITHCACHE_SHIM_SEEN (find-tool.ts envForExec):
/// the real path of the tool appended to the list. On any limit, the environment as it was.
fn envForExec(envp: env.Block, tool_path: [:0]const u8, arena: std.mem.Allocator) [*:null]const ?[*:0]const u8 {
    if (envp.len > limits.env_count_max) return envp.ptr;
    var real_buf: which.Path = undefined;
    const real = which.realPath(tool_path, &real_buf) orelse tool_path;
    const seen = env.get(envp, which.seen_env) orelse "";
    const entry = std.fmt.allocPrintSentinel(arena, "{s}={s}{s}{s}", .{
        which.seen_env, seen, if (seen.len > 0) ":" else "", real,
    }, 0) catch return envp.ptr;
    var count: usize = 0;
    var placed = false;
    for (envp) |e| {
        const item = std.mem.span(e.?);
        if (std.mem.startsWith(u8, item, which.seen_env ++ "=")) {
            if (placed) continue;
            exec_env[count] = entry.ptr;
            placed = true;
        } else exec_env[count] = e;
        count += 1;
    }
    if (!placed) {
        exec_env[count] = entry.ptr;
        count += 1;
    }
    exec_env[count] = null;
    return @ptrCast(&exec_env);
}

test {
    _ = env;
    _ = limits;
    _ = sys;
    _ = which;
    _ = plan;
    _ = probe;
    _ = resolve;
    _ = target;
    _ = tool_probe;
    _ = @import("text.zig");
    _ = @import("token.zig");
}

test "toolFromArgv0 looks at the basename" {
    try std.testing.expectEqual(Tool.curl, toolFromArgv0("/usr/local/bin/curl").?);
    try std.testing.expectEqual(Tool.wget, toolFromArgv0("wgetwithcache").?);
    try std.testing.expectEqual(Tool.curl, toolFromArgv0("curlwithcache").?);
    try std.testing.expect(toolFromArgv0("/opt/curl/bin/withcache") == null);
}

test "serverSetting: the tool's variable wins, even empty" {
    try std.testing.expectEqualStrings("a", serverSetting(.curl, &.{ "WITHCACHE_SERVER=b", "CURLWITHCACHE_SERVER=a" }).?);
    try std.testing.expect(serverSetting(.curl, &.{ "WITHCACHE_SERVER=b", "CURLWITHCACHE_SERVER=" }) == null);
    try std.testing.expectEqualStrings("b", serverSetting(.wget, &.{ "WITHCACHE_SERVER=b", "CURLWITHCACHE_SERVER=a" }).?);
    try std.testing.expect(serverSetting(.wget, &.{"WITHCACHE_SERVER="}) == null);
    try std.testing.expect(serverSetting(.wget, &.{}) == null);
}

test "tool options are generated from the shared json" {
    const tool_options = @import("tool_options");
    try std.testing.expect(tool_options.curl.short_with_value.len > 0);
    try std.testing.expect(tool_options.limits.url_bytes_max == limits.url_bytes_max);
}
