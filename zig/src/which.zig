// Finding the real curl/wget: $REAL_CURL / $REAL_WGET, else the first executable of that name on
// $PATH that is not this very binary (compared by device and inode, so a symlink named curl
// first on PATH never runs itself).
const std = @import("std");
const linux = std.os.linux;
const limits = @import("limits.zig");

pub const FileId = struct {
    dev_major: u32,
    dev_minor: u32,
    ino: u64,

    pub fn eql(a: FileId, b: FileId) bool {
        return a.dev_major == b.dev_major and a.dev_minor == b.dev_minor and a.ino == b.ino;
    }
};

/// Identity of a regular file (symlinks followed), or null when it is not one.
pub fn regularFileId(path: [*:0]const u8) ?FileId {
    var st: linux.Statx = undefined;
    const rc = linux.statx(linux.AT.FDCWD, path, 0, .{ .TYPE = true, .INO = true }, &st);
    if (linux.errno(rc) != .SUCCESS) return null;
    if (st.mode & linux.S.IFMT != linux.S.IFREG) return null;
    return .{ .dev_major = st.dev_major, .dev_minor = st.dev_minor, .ino = st.ino };
}

pub fn isExecutable(path: [*:0]const u8) bool {
    return linux.errno(linux.faccessat(linux.AT.FDCWD, path, linux.X_OK, 0)) == .SUCCESS;
}

/// This binary's identity: /proc/self/exe, or when /proc is missing (initramfs, chroot), the
/// file argv[0] names (with a slash) — the caller falls back to PATH-resolving argv[0] itself.
pub fn selfId() ?FileId {
    return regularFileId("/proc/self/exe");
}

pub const Search = struct {
    name: []const u8,
    path_env: []const u8,
    /// Files to skip: this binary.
    skip: ?FileId,
};

/// The first executable regular file `name` on `path_env` that is not `skip`, written NUL-terminated
/// into `out`. An empty PATH entry means the current directory, as for execvp(3).
pub fn searchPath(search: Search, out: *[limits.path_bytes_max]u8) ?[:0]const u8 {
    var dirs = std.mem.splitScalar(u8, search.path_env, ':');
    while (dirs.next()) |dir_raw| {
        const dir = if (dir_raw.len == 0) "." else dir_raw;
        const len = dir.len + 1 + search.name.len;
        if (len + 1 > out.len) continue;
        @memcpy(out[0..dir.len], dir);
        out[dir.len] = '/';
        @memcpy(out[dir.len + 1 .. len], search.name);
        out[len] = 0;
        const candidate = out[0..len :0];
        const id = regularFileId(candidate) orelse continue;
        if (search.skip) |skip| if (id.eql(skip)) continue;
        if (!isExecutable(candidate)) continue;
        return candidate;
    }
    return null;
}

test "searchPath skips missing dirs and finds sh" {
    var out: [limits.path_bytes_max]u8 = undefined;
    const found = searchPath(.{ .name = "sh", .path_env = "/nonexistent::/bin:/usr/bin", .skip = null }, &out);
    try std.testing.expect(found != null);
    try std.testing.expect(std.mem.endsWith(u8, found.?, "/sh"));
}

test "searchPath skips the file given as skip" {
    var out: [limits.path_bytes_max]u8 = undefined;
    const first = searchPath(.{ .name = "sh", .path_env = "/bin", .skip = null }, &out) orelse return;
    const id = regularFileId(first).?;
    try std.testing.expect(searchPath(.{ .name = "sh", .path_env = "/bin", .skip = id }, &out) == null);
}
