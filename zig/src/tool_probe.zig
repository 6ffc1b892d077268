// Probing an https cache-host with the real tool itself (curl -I, wget --spider -S) instead of a
// TLS stack of our own: the binary stays small, and certificates, CA paths and proxies are judged
// exactly as the tool will judge them when it downloads. Same outcome rule and budget as the
// socket probe; a child still running at the deadline is killed.
const std = @import("std");
const linux = std.os.linux;
const limits = @import("limits.zig");
const sys = @import("sys.zig");
const probe = @import("probe.zig");
const Outcome = probe.Outcome;
const Tool = @import("plan.zig").Tool;

/// Bytes of the tool's output we keep (as probe.ts): curl prints a status and a header value,
/// wget the response headers (the cache-host's are under 1 KiB).
const output_bytes_max = limits.response_head_bytes_max;

const Child = struct {
    pid: linux.pid_t = 0,
    fd: i32 = -1,
    output: [output_bytes_max]u8 = undefined,
    output_len: usize = 0,
};

pub const Request = struct {
    tool: Tool,
    real_path: [*:0]const u8,
    envp: [*:null]const ?[*:0]const u8,
    /// "--connect-timeout"/"--max-time" values, in seconds as text (e.g. "0.25", "1").
    connect_timeout_text: [:0]const u8,
    total_timeout_text: [:0]const u8,
    deadline_ms: i64,
};

/// Static, not on the stack: 64 children with their output buffers are a quarter megabyte.
var children_storage: [limits.url_count_max]Child = undefined;

pub fn probeAll(request: Request, urls: []const [*:0]const u8, outcomes: []Outcome) void {
    std.debug.assert(urls.len == outcomes.len and urls.len <= limits.url_count_max);
    const children = &children_storage;
    for (urls, children[0..urls.len]) |url, *child| {
        child.* = .{};
        spawn(request, url, child);
    }
    var pollfds: [limits.url_count_max]linux.pollfd = undefined;
    var owners: [limits.url_count_max]usize = undefined;
    while (true) {
        const wait_ms = request.deadline_ms - sys.nowMs();
        var count: usize = 0;
        for (children[0..urls.len], 0..) |*child, i| {
            if (child.fd < 0) continue;
            pollfds[count] = .{ .fd = child.fd, .events = linux.POLL.IN, .revents = 0 };
            owners[count] = i;
            count += 1;
        }
        if (count == 0 or wait_ms <= 0) break;
        const rc = linux.poll(&pollfds, count, @intCast(wait_ms));
        if (linux.errno(rc) == .INTR) continue;
        if (linux.errno(rc) != .SUCCESS) break;
        for (pollfds[0..count], owners[0..count]) |pfd, i| {
            if (pfd.revents != 0) readSome(&children[i]);
        }
    }
    for (children[0..urls.len], outcomes) |*child, *outcome| {
        const finished = child.fd < 0;
        if (child.fd >= 0) _ = linux.close(child.fd);
        if (child.pid > 0) {
            if (!finished) _ = linux.kill(child.pid, .KILL);
            var status: u32 = 0;
            _ = linux.wait4(child.pid, &status, 0, null);
        }
        outcome.* = if (finished) outcomeOf(request.tool, child.output[0..child.output_len]) else .down;
    }
}

fn readSome(child: *Child) void {
    var scratch: [256]u8 = undefined;
    const room = child.output[child.output_len..];
    const target = if (room.len > 0) room else scratch[0..];
    const rc = linux.read(child.fd, target.ptr, target.len);
    switch (linux.errno(rc)) {
        .SUCCESS => {},
        .AGAIN, .INTR => return,
        else => {
            _ = linux.close(child.fd);
            child.fd = -1;
            return;
        },
    }
    if (rc == 0) {
        _ = linux.close(child.fd);
        child.fd = -1;
        return;
    }
    if (room.len > 0) child.output_len += rc;
}

fn spawn(request: Request, url: [*:0]const u8, child: *Child) void {
    var fds: [2]i32 = undefined;
    if (linux.errno(linux.pipe2(&fds, .{ .CLOEXEC = true })) != .SUCCESS) return;
    // The user's ~/.curlrc and wgetrc apply on purpose: they may carry the CA for the cache.
    const argv: [13:null]?[*:0]const u8 = switch (request.tool) {
        .curl => .{ request.real_path, "-s", "-I", "-o", "/dev/null", "-w", curl_probe_format, "--connect-timeout", request.connect_timeout_text, "--max-time", request.total_timeout_text, url, null },
        .wget => .{ request.real_path, "-q", "--spider", "-S", "-t", "1", "-T", request.total_timeout_text, "--max-redirect=0", "-O", "/dev/null", url, null },
    };
    const pid_rc = linux.fork();
    if (linux.errno(pid_rc) != .SUCCESS) {
        _ = linux.close(fds[0]);
        _ = linux.close(fds[1]);
        return;
    }
    if (pid_rc == 0) {
        // Child: the status goes to the pipe (curl writes it on stdout, wget on stderr).
        const devnull = linux.open("/dev/null", .{ .ACCMODE = .RDWR }, 0);
        if (linux.errno(devnull) == .SUCCESS) {
            _ = linux.dup2(@intCast(devnull), 0);
            _ = linux.dup2(@intCast(devnull), 1);
            _ = linux.dup2(@intCast(devnull), 2);
        }
        _ = linux.dup2(fds[1], if (request.tool == .curl) 1 else 2);
        _ = linux.execve(request.real_path, &argv, request.envp);
        linux.exit_group(127);
    }
    _ = linux.close(fds[1]);
    child.pid = @intCast(pid_rc);
    child.fd = fds[0];
}

/// Milliseconds as the tools take seconds on the command line, like probe.ts `secondsText`
/// (JavaScript's number formatting of ms / 1000): 300 → "0.3", 1000 → "1", 998 → "0.998".
pub fn secondsText(buf: *[32]u8, ms: i64) [:0]const u8 {
    const whole: u64 = @intCast(@divTrunc(@max(ms, 1), 1000));
    var frac: u64 = @intCast(@mod(@max(ms, 1), 1000));
    var frac_digits: usize = 3;
    while (frac != 0 and frac % 10 == 0) {
        frac /= 10;
        frac_digits -= 1;
    }
    const text = if (frac == 0)
        std.fmt.bufPrintZ(buf, "{d}", .{whole})
    else
        std.fmt.bufPrintZ(buf, "{d}.{d:0>[2]}", .{ whole, frac, frac_digits });
    return text catch unreachable; // 32 bytes hold any i64
}

/// What curl prints for `-w`: the status, a space, the redirect header's value (empty if absent;
/// `%header{}` needs curl ≥ 7.84). Same as probe.ts CURL_PROBE_FORMAT.
const curl_probe_format = "%{http_code} %header{x-withcache-redirected}";

/// As probe.ts `toolProbeOutcome`. curl: `NNN` or `NNN VALUE` (trimmed); any VALUE makes a 200
/// hit_redirected (`1`, or an older curl's literal `%header{…}`: unknown, the safe reading).
/// wget: the first match of /HTTP\/\S+ (\d{3})(?:[ \r\n]|$)/ in its -S output, then any later
/// line that, without leading blanks, is `X-Withcache-Redirected: 1`.
pub fn outcomeOf(tool: Tool, output: []const u8) Outcome {
    var redirected = false;
    const status = switch (tool) {
        .curl => blk: {
            const trimmed = std.mem.trim(u8, output, " \t\r\n\x0b\x0c");
            if (trimmed.len < 3 or (trimmed.len > 3 and trimmed[3] != ' ')) return .down;
            for (trimmed[0..3]) |c| if (!std.ascii.isDigit(c)) return .down;
            redirected = trimmed.len > 3;
            break :blk trimmed[0..3];
        },
        .wget => blk: {
            const found = wgetStatus(output) orelse return .down;
            var lines = std.mem.splitScalar(u8, output[found.line_start..], '\n');
            _ = lines.next(); // the status line itself
            while (lines.next()) |line| {
                if (probe.isRedirectedLine(std.mem.trimStart(u8, line, " \t"))) redirected = true;
            }
            break :blk found.digits;
        },
    };
    if (std.mem.eql(u8, status, "200")) return if (redirected) .hit_redirected else .hit;
    if (std.mem.eql(u8, status, "404")) return .miss;
    return .down;
}

fn wgetStatus(output: []const u8) ?struct { digits: []const u8, line_start: usize } {
    var from: usize = 0;
    while (std.mem.indexOfPos(u8, output, from, "HTTP/")) |start| : (from = start + 1) {
        var k = start + 5;
        while (k < output.len and !std.ascii.isWhitespace(output[k])) k += 1;
        if (k == start + 5 or k + 4 > output.len or output[k] != ' ') continue;
        const digits = output[k + 1 .. k + 4];
        if (!std.ascii.isDigit(digits[0]) or !std.ascii.isDigit(digits[1]) or !std.ascii.isDigit(digits[2])) continue;
        if (k + 4 < output.len and std.mem.indexOfScalar(u8, " \r\n", output[k + 4]) == null) continue;
        return .{ .digits = digits, .line_start = start };
    }
    return null;
}

test "outcomeOf reads curl and wget output" {
    try std.testing.expectEqual(Outcome.hit, outcomeOf(.curl, "200"));
    try std.testing.expectEqual(Outcome.hit, outcomeOf(.curl, "200 "));
    try std.testing.expectEqual(Outcome.hit_redirected, outcomeOf(.curl, "200 1"));
    try std.testing.expectEqual(Outcome.hit_redirected, outcomeOf(.curl, "200 %header{x-withcache-redirected}"));
    try std.testing.expectEqual(Outcome.miss, outcomeOf(.curl, "404 "));
    try std.testing.expectEqual(Outcome.down, outcomeOf(.curl, "2001"));
    try std.testing.expectEqual(Outcome.hit_redirected, outcomeOf(.wget, "  HTTP/1.1 200 OK\n  content-length: 1\n  X-Withcache-Redirected: 1\n"));
    try std.testing.expectEqual(Outcome.hit, outcomeOf(.wget, "  HTTP/1.1 200 OK\n  x-withcache-redirected: 2\n"));
    try std.testing.expectEqual(Outcome.miss, outcomeOf(.curl, "404"));
    try std.testing.expectEqual(Outcome.down, outcomeOf(.curl, "000"));
    try std.testing.expectEqual(Outcome.down, outcomeOf(.curl, ""));
    try std.testing.expectEqual(Outcome.hit, outcomeOf(.wget, "  HTTP/1.1 200 OK\n  content-length: 1\n"));
    try std.testing.expectEqual(Outcome.miss, outcomeOf(.wget, "  HTTP/1.1 404 Not Found\n"));
    try std.testing.expectEqual(Outcome.down, outcomeOf(.wget, "  HTTP/1.1 503 Busy\n"));
    try std.testing.expectEqual(Outcome.down, outcomeOf(.wget, "failed: Connection refused.\n"));
    try std.testing.expectEqual(Outcome.hit, outcomeOf(.wget, "HTTP/ x\n  HTTP/1.1 200"));
    try std.testing.expectEqual(Outcome.down, outcomeOf(.wget, "HTTP/ 200 OK"));
}

test "secondsText formats like JavaScript numbers" {
    var buf: [32]u8 = undefined;
    try std.testing.expectEqualStrings("0.3", secondsText(&buf, 300));
    try std.testing.expectEqualStrings("1", secondsText(&buf, 1000));
    try std.testing.expectEqualStrings("0.998", secondsText(&buf, 998));
    try std.testing.expectEqualStrings("0.05", secondsText(&buf, 50));
    try std.testing.expectEqualStrings("0.001", secondsText(&buf, 0));
    try std.testing.expectEqualStrings("1.5", secondsText(&buf, 1500));
}
