// The native shim's entry: argv[0] picks curl or wget; with no cache server configured it
// execs the real tool at once (no parsing, no network); otherwise it plans, probes the
// cache-host and execs the real tool with hit URLs rewritten to the cache.
const std = @import("std");
const build_options = @import("build_options");
const linux = std.os.linux;
const env = @import("env.zig");
const limits = @import("limits.zig");
const sys = @import("sys.zig");
const which = @import("which.zig");

pub const Tool = enum { curl, wget };

pub fn main(init: std.process.Init.Minimal) u8 {
    const args = init.args.vector;
    const envp = init.environ.block.slice;
    if (args.len == 2 and std.mem.eql(u8, std.mem.span(args[1]), "--withcache-version")) {
        const line = build_options.version ++ "\n";
        _ = sys.writeAll(1, line);
        return 0;
    }
    const tool = toolFromArgv0(std.mem.span(args[0])) orelse
        sys.fatal(2, "{s}: cannot tell the tool from the program name; expected a name containing curl or wget", .{std.mem.span(args[0])});

    var real_path_buf: [limits.path_bytes_max]u8 = undefined;
    const real_path = findRealTool(tool, envp, &real_path_buf);

    // argv as the kernel laid it out: contiguous and NULL-terminated, so it can be handed on in
    // place after pointing argv[0] at the real tool.
    const argv: [*:null]?[*:0]const u8 = @ptrCast(@constCast(args.ptr));
    argv[0] = real_path.ptr;
    handOver(real_path, argv, envp);
}

pub fn toolFromArgv0(argv0: []const u8) ?Tool {
    const base = if (std.mem.lastIndexOfScalar(u8, argv0, '/')) |i| argv0[i + 1 ..] else argv0;
    if (std.mem.indexOf(u8, base, "curl") != null) return .curl;
    if (std.mem.indexOf(u8, base, "wget") != null) return .wget;
    return null;
}

fn findRealTool(tool: Tool, envp: env.Block, out: *[limits.path_bytes_max]u8) [:0]const u8 {
    const override_name = switch (tool) {
        .curl => "REAL_CURL",
        .wget => "REAL_WGET",
    };
    if (env.get(envp, override_name)) |value| if (value.len > 0) {
        if (value.len + 1 > out.len) sys.fatal(127, "{s}: path is too long", .{override_name});
        @memcpy(out[0..value.len], value);
        out[value.len] = 0;
        return out[0..value.len :0];
    };
    return which.searchPath(.{
        .name = @tagName(tool),
        .path_env = env.get(envp, "PATH") orelse "/usr/local/bin:/usr/bin:/bin",
        .skip = which.selfId(),
    }, out) orelse sys.fatal(127, "no real {t} found on PATH (set {s})", .{ tool, override_name });
}

/// Becomes the real tool, or with WITHCACHE_PLAN_ONLY=1 prints the argv it would run
/// (each element followed by a NUL byte) and exits 0.
fn handOver(real_path: [:0]const u8, argv: [*:null]const ?[*:0]const u8, envp: env.Block) noreturn {
    if (env.get(envp, "WITHCACHE_PLAN_ONLY")) |flag| if (std.mem.eql(u8, flag, "1")) {
        var i: usize = 0;
        while (argv[i]) |arg| : (i += 1) {
            _ = sys.writeAll(1, std.mem.span(arg));
            _ = sys.writeAll(1, "\x00");
        }
        linux.exit_group(0);
    };
    const rc = linux.execve(real_path.ptr, argv, envp.ptr);
    sys.fatal(126, "cannot execute {s}: {t}", .{ real_path, linux.errno(rc) });
}

test {
    _ = env;
    _ = limits;
    _ = sys;
    _ = which;
    _ = @import("token.zig");
    _ = @import("probe.zig");
    _ = @import("resolve.zig");
    _ = @import("plan.zig");
    _ = @import("text.zig");
    _ = @import("tool_probe.zig");
}

test "toolFromArgv0 looks at the basename" {
    try std.testing.expectEqual(Tool.curl, toolFromArgv0("/usr/local/bin/curl").?);
    try std.testing.expectEqual(Tool.wget, toolFromArgv0("wgetwithcache").?);
    try std.testing.expectEqual(Tool.curl, toolFromArgv0("curlwithcache").?);
    try std.testing.expect(toolFromArgv0("/opt/curl/bin/withcache") == null);
}

test "tool options are generated from the shared json" {
    const tool_options = @import("tool_options");
    try std.testing.expect(tool_options.curl.short_with_value.len > 0);
    try std.testing.expect(tool_options.limits.url_bytes_max == limits.url_bytes_max);
}
