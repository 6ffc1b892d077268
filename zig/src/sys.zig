// Thin wrappers over raw Linux syscalls: writing to fds, the one fatal(), monotonic time.
// No libc: the binary stays small and static.
const std = @import("std");
const linux = std.os.linux;

/// Writes all of `bytes` to `fd`; gives up silently on error (nothing better to do with stderr).
pub fn writeAll(fd: i32, bytes: []const u8) bool {
    var rest = bytes;
    while (rest.len > 0) {
        const rc = linux.write(fd, rest.ptr, rest.len);
        switch (linux.errno(rc)) {
            .SUCCESS => rest = rest[rc..],
            .INTR => continue,
            else => return false,
        }
    }
    return true;
}

/// Prints `withcache: error: <message>` on stderr and exits with `status`.
pub fn fatal(status: u8, comptime format: []const u8, args: anytype) noreturn {
    var buf: [1024]u8 = undefined;
    const prefix = "withcache: error: ";
    @memcpy(buf[0..prefix.len], prefix);
    const body = std.fmt.bufPrint(buf[prefix.len .. buf.len - 1], format, args) catch blk: {
        const cut = buf[prefix.len .. buf.len - 4];
        @memcpy(buf[buf.len - 4 .. buf.len - 1], "...");
        break :blk buf[prefix.len .. buf.len - 1][0 .. cut.len + 3];
    };
    buf[prefix.len + body.len] = '\n';
    _ = writeAll(2, buf[0 .. prefix.len + body.len + 1]);
    linux.exit_group(status);
}

pub fn nowMs() i64 {
    var ts: linux.timespec = undefined;
    _ = linux.clock_gettime(.MONOTONIC, &ts);
    return @as(i64, ts.sec) * 1000 + @divTrunc(@as(i64, ts.nsec), 1_000_000);
}
