// Finding the real curl/wget, as src/shim/find-tool.ts does: $REAL_CURL / $REAL_WGET (a path, or
// a name to search), else the first executable regular file of that name on $PATH that is not
// this binary (same device and inode) and whose real path is not in WITHCACHE_SHIM_SEEN (the
// tools the shims already exec'd in this chain: a wrapper that calls curl again reaches the
// next one instead of looping).
const std = @import("std");
const linux = std.os.linux;
const env = @import("env.zig");
const limits = @import("limits.zig");

pub const seen_env = "WITHCACHE_SHIM_SEEN";
/// More hops than this through shims and wrappers is a loop, whatever the paths say.
pub const seen_entries_max = 32;
/// Symlinks followed while resolving one path, as Linux's own limit (ELOOP).
const symlink_hops_max = 40;

pub const Path = [limits.path_bytes_max]u8;

pub const FileId = struct {
    dev_major: u32,
    dev_minor: u32,
    ino: u64,

    pub fn eql(a: FileId, b: FileId) bool {
        return a.dev_major == b.dev_major and a.dev_minor == b.dev_minor and a.ino == b.ino;
    }
};

fn statx(path: [*:0]const u8) ?linux.Statx {
    var st: linux.Statx = undefined;
    const rc = linux.statx(linux.AT.FDCWD, path, 0, .{ .TYPE = true, .INO = true }, &st);
    if (linux.errno(rc) != .SUCCESS) return null;
    return st;
}

/// Identity of any file (symlinks followed).
pub fn fileId(path: [*:0]const u8) ?FileId {
    const st = statx(path) orelse return null;
    return .{ .dev_major = st.dev_major, .dev_minor = st.dev_minor, .ino = st.ino };
}

pub fn isExecutableFile(path: [*:0]const u8) bool {
    const st = statx(path) orelse return false;
    if (st.mode & linux.S.IFMT != linux.S.IFREG) return false;
    return linux.errno(linux.faccessat(linux.AT.FDCWD, path, linux.X_OK, 0)) == .SUCCESS;
}

pub const Found = union(enum) {
    path: [:0]const u8,
    /// The one-line reason, printed as `<tool>: withcache: <reason>` with exit 127.
    not_found: []const u8,
};

pub const Request = struct {
    tool_name: []const u8,
    envp: env.Block,
    /// This binary's identity (/proc/self/exe), null when unknown.
    self: ?FileId,
    cwd: []const u8,
};

pub fn findRealTool(request: Request, out: *Path, message_buf: []u8) Found {
    const override_name = if (std.mem.eql(u8, request.tool_name, "curl")) "REAL_CURL" else "REAL_WGET";
    const seen = env.get(request.envp, seen_env) orelse "";
    const seen_count = if (seen.len == 0) 0 else std.mem.count(u8, seen, ":") + 1;
    if (seen_count > seen_entries_max) return .{ .not_found = std.fmt.bufPrint(message_buf, "{s} lists {d} hops; a wrapper loop? run the real {s} directly", .{ seen_env, seen_count, request.tool_name }) catch "wrapper loop" };
    var name = request.tool_name;
    if (env.get(request.envp, override_name)) |override| if (override.len > 0) {
        if (std.mem.indexOfScalar(u8, override, '/') != null) {
            const path = (if (override[0] == '/') copyZ(out, override) else resolvePath(out, &.{ request.cwd, override })) orelse
                return .{ .not_found = std.fmt.bufPrint(message_buf, "{s}={s} is not an executable file", .{ override_name, override }) catch "override too long" };
            if (!isExecutableFile(path)) return .{ .not_found = std.fmt.bufPrint(message_buf, "{s}={s} is not an executable file", .{ override_name, override }) catch "override is not an executable file" };
            if (isSelf(request.self, path)) return .{ .not_found = std.fmt.bufPrint(message_buf, "{s}={s} is this shim itself", .{ override_name, override }) catch "override is this shim itself" };
            return .{ .path = path };
        }
        name = override;
    };
    var dirs = std.mem.splitScalar(u8, env.get(request.envp, "PATH") orelse "", ':');
    while (dirs.next()) |dir| {
        const candidate = resolvePath(out, &.{ request.cwd, if (dir.len == 0) "." else dir, name }) orelse continue;
        if (!isExecutableFile(candidate) or isSelf(request.self, candidate)) continue;
        if (seen.len > 0) {
            var real_buf: Path = undefined;
            const real = realPath(candidate, &real_buf) orelse candidate;
            var entries = std.mem.splitScalar(u8, seen, ':');
            const already = while (entries.next()) |entry| {
                if (std.mem.eql(u8, entry, real)) break true;
            } else false;
            if (already) continue;
        }
        return .{ .path = candidate };
    }
    return .{ .not_found = std.fmt.bufPrint(message_buf, "no real {s} found on PATH (set {s})", .{ request.tool_name, override_name }) catch "no real tool found on PATH" };
}

fn isSelf(self: ?FileId, path: [*:0]const u8) bool {
    const self_id = self orelse return false;
    const id = fileId(path) orelse return false;
    return id.eql(self_id);
}

fn copyZ(out: *Path, s: []const u8) ?[:0]const u8 {
    if (s.len + 1 > out.len) return null;
    @memcpy(out[0..s.len], s);
    out[s.len] = 0;
    return out[0..s.len :0];
}

/// node's path.resolve(...parts) for POSIX: the last absolute part restarts, then "."/""/".."
/// segments are normalised and the result has no trailing slash.
pub fn resolvePath(out: *Path, parts: []const []const u8) ?[:0]const u8 {
    var start: usize = 0;
    for (parts, 0..) |part, i| if (part.len > 0 and part[0] == '/') {
        start = i;
    };
    var len: usize = 0;
    for (parts[start..]) |part| {
        var segments = std.mem.splitScalar(u8, part, '/');
        while (segments.next()) |segment| len = appendSegment(out, len, segment) orelse return null;
    }
    if (len == 0) {
        out[0] = '/';
        len = 1;
    }
    out[len] = 0;
    return out[0..len :0];
}

/// realpath(3) without libc: every symlink component resolved (bounded), null when a component
/// is missing — the caller then uses the path as given, as find-tool.ts does.
pub fn realPath(path: []const u8, out: *Path) ?[]const u8 {
    std.debug.assert(path.len > 0 and path[0] == '/');
    // `pending` holds the components still to walk; a symlink's target is spliced in front.
    var pending_buf: Path = undefined;
    var pending: []const u8 = copyInto(&pending_buf, path) orelse return null;
    var len: usize = 0;
    var hops: usize = 0;
    while (pending.len > 0) {
        const slash = std.mem.indexOfScalar(u8, pending, '/') orelse pending.len;
        const segment = pending[0..slash];
        pending = if (slash < pending.len) pending[slash + 1 ..] else "";
        const segment_start = len;
        len = appendSegment(out, len, segment) orelse return null;
        if (len <= segment_start) continue; // "", "." or "..": no new component to resolve
        out[len] = 0;
        var target_buf: Path = undefined;
        const rc = linux.readlink(out[0..len :0], &target_buf, target_buf.len);
        switch (linux.errno(rc)) {
            .SUCCESS => {},
            .INVAL => continue, // not a symlink
            else => return null,
        }
        hops += 1;
        if (hops > symlink_hops_max or rc == target_buf.len) return null;
        const target = target_buf[0..rc];
        len = if (target.len > 0 and target[0] == '/') 0 else segment_start;
        // New pending = target + "/" + old pending, built in a scratch buffer then copied back.
        var joined: Path = undefined;
        if (target.len + 1 + pending.len > joined.len) return null;
        @memcpy(joined[0..target.len], target);
        joined[target.len] = '/';
        @memcpy(joined[target.len + 1 .. target.len + 1 + pending.len], pending);
        pending = copyInto(&pending_buf, joined[0 .. target.len + 1 + pending.len]) orelse return null;
    }
    if (len == 0) {
        out[0] = '/';
        len = 1;
    }
    return out[0..len];
}

/// One segment onto the normalised path `out[0..len]`: "" and "." leave it, ".." drops its last
/// component, any other is appended after a '/'. The new length, or null when it would not fit
/// (with room left for a NUL).
fn appendSegment(out: *Path, len: usize, segment: []const u8) ?usize {
    if (segment.len == 0 or std.mem.eql(u8, segment, ".")) return len;
    if (std.mem.eql(u8, segment, "..")) return std.mem.lastIndexOfScalar(u8, out[0..len], '/') orelse 0;
    if (len + 1 + segment.len + 1 > out.len) return null;
    out[len] = '/';
    @memcpy(out[len + 1 .. len + 1 + segment.len], segment);
    return len + 1 + segment.len;
}

fn copyInto(buf: *Path, s: []const u8) ?[]const u8 {
    if (s.len > buf.len) return null;
    @memcpy(buf[0..s.len], s);
    return buf[0..s.len];
}

test "resolvePath normalises like node's path.resolve" {
    var out: Path = undefined;
    try std.testing.expectEqualStrings("/usr/bin/curl", resolvePath(&out, &.{ "/home/x", "/usr//bin/", "curl" }).?);
    try std.testing.expectEqualStrings("/home/x/bin/curl", resolvePath(&out, &.{ "/home/x", "./bin", "curl" }).?);
    try std.testing.expectEqualStrings("/home/curl", resolvePath(&out, &.{ "/home/x", "..", "curl" }).?);
    try std.testing.expectEqualStrings("/curl", resolvePath(&out, &.{ "/", "../..", "curl" }).?);
}

test "realPath follows symlinks" {
    var out: Path = undefined;
    try std.testing.expectEqualStrings("/", realPath("/", &out).?);
    try std.testing.expectEqualStrings("/proc", realPath("/proc/.", &out).?);
    try std.testing.expectEqualStrings("/proc", realPath("/usr/..//proc", &out).?);
    try std.testing.expectEqualStrings("/proc", realPath("/proc/self/..", &out).?); // .. after the symlink's target
    try std.testing.expect(realPath("/nonexistent/x", &out) == null);
    // /proc/self/exe links to this test binary: ".." after it is the binary's directory.
    var exe_buf: Path = undefined;
    const exe = realPath("/proc/self/exe", &exe_buf).?;
    try std.testing.expectEqualStrings(exe[0..std.mem.lastIndexOfScalar(u8, exe, '/').?], realPath("/proc/self/exe/..", &out).?);
    // /proc/self is a symlink to /proc/<pid>.
    const self = realPath("/proc/self", &out).?;
    try std.testing.expect(std.mem.startsWith(u8, self, "/proc/") and !std.mem.eql(u8, self, "/proc/self"));
}

test "findRealTool searches PATH and honours the seen list" {
    var out: Path = undefined;
    var msg: [256]u8 = undefined;
    const found = findRealTool(.{ .tool_name = "sh", .envp = &.{"PATH=/nonexistent::/bin:/usr/bin"}, .self = null, .cwd = "/" }, &out, &msg);
    try std.testing.expect(found == .path);
    var real_buf: Path = undefined;
    const real = realPath(found.path, &real_buf).?;
    var env_buf: [600]u8 = undefined;
    const seen_entry = try std.fmt.bufPrintZ(&env_buf, "WITHCACHE_SHIM_SEEN=/x:{s}", .{real});
    const again = findRealTool(.{ .tool_name = "sh", .envp = &.{ "PATH=/bin", seen_entry }, .self = null, .cwd = "/" }, &out, &msg);
    if (again == .path) try std.testing.expect(!std.mem.eql(u8, realPath(again.path, &real_buf).?, real));
    const none = findRealTool(.{ .tool_name = "curl", .envp = &.{"PATH=/nonexistent"}, .self = null, .cwd = "/" }, &out, &msg);
    try std.testing.expectEqualStrings("no real curl found on PATH (set REAL_CURL)", none.not_found);
}
