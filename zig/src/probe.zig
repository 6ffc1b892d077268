// The probe: HTTP/1.1 HEAD requests to the cache-host over raw non-blocking sockets, all URLs of
// a command at once, within a connect timeout and a total budget. 200 → hit (hit_redirected with
// `X-Withcache-Redirected: 1`), 404 → miss, anything else (refused, timeout, other status,
// garbage, a 200 whose head does not end in time) → down (treated as unreachable).
const std = @import("std");
const linux = std.os.linux;
const limits = @import("limits.zig");
const sys = @import("sys.zig");

pub const Outcome = enum { hit, hit_redirected, miss, down };

pub const Address = union(enum) {
    v4: linux.sockaddr.in,
    v6: linux.sockaddr.in6,

    pub fn fromIp(ip: std.Io.net.IpAddress) Address {
        return switch (ip) {
            .ip4 => |a| .{ .v4 = .{ .port = std.mem.nativeToBig(u16, a.port), .addr = @bitCast(a.bytes) } },
            .ip6 => |a| .{ .v6 = .{
                .port = std.mem.nativeToBig(u16, a.port),
                .flowinfo = a.flow,
                .addr = a.bytes,
                .scope_id = a.interface.index,
            } },
        };
    }

    pub fn family(a: *const Address) u32 {
        return switch (a.*) {
            .v4 => linux.AF.INET,
            .v6 => linux.AF.INET6,
        };
    }

    /// connect(2) of `fd` (a socket of this address's family) to the address; the raw return value.
    pub fn connectTo(a: *const Address, fd: i32) usize {
        return switch (a.*) {
            .v4 => |*in| linux.connect(fd, in, @sizeOf(linux.sockaddr.in)),
            .v6 => |*in6| linux.connect(fd, in6, @sizeOf(linux.sockaddr.in6)),
        };
    }
};

pub const Budget = struct {
    /// How long one connect may take before the next address (or giving up).
    connect_timeout_ms: i64,
    /// Absolute monotonic deadline for every probe of the command.
    deadline_ms: i64,
};

const State = enum { connecting, sending, reading, done };

const Slot = struct {
    fd: i32 = -1,
    state: State = .connecting,
    address_index: usize = 0,
    connect_started_ms: i64 = 0,
    sent_bytes: usize = 0,
    head: [limits.response_head_bytes_max]u8 = undefined,
    head_len: usize = 0,
    outcome: Outcome = .down,
};

/// Static, not on the stack: 64 slots with their read buffers are a quarter megabyte.
var slots: [limits.url_count_max]Slot = undefined;

/// Probes every request (complete HTTP request bytes) against `addresses` (tried in order on
/// connect failure) and writes one outcome per request. Never takes longer than the budget.
pub fn probeAll(addresses: []const Address, requests: []const []const u8, outcomes: []Outcome, budget: Budget) void {
    std.debug.assert(requests.len == outcomes.len);
    std.debug.assert(requests.len <= limits.url_count_max);
    const active = slots[0..requests.len];
    for (active) |*slot| {
        slot.* = .{};
        if (addresses.len == 0) slot.state = .done else startConnect(slot, addresses);
    }
    var pollfds: [limits.url_count_max]linux.pollfd = undefined;
    var owners: [limits.url_count_max]usize = undefined;
    while (true) {
        const now_ms = sys.nowMs();
        var count: usize = 0;
        var wait_ms: i64 = budget.deadline_ms - now_ms;
        for (active, 0..) |*slot, i| {
            if (slot.state == .connecting) {
                const connect_deadline_ms = slot.connect_started_ms + budget.connect_timeout_ms;
                if (now_ms >= connect_deadline_ms) {
                    nextAddress(slot, addresses);
                    if (slot.state == .done) continue;
                }
                wait_ms = @min(wait_ms, slot.connect_started_ms + budget.connect_timeout_ms - now_ms);
            }
            if (slot.state == .done) continue;
            pollfds[count] = .{
                .fd = slot.fd,
                .events = if (slot.state == .reading) linux.POLL.IN else linux.POLL.OUT,
                .revents = 0,
            };
            owners[count] = i;
            count += 1;
        }
        if (count == 0 or now_ms >= budget.deadline_ms) break;
        const rc = linux.poll(&pollfds, count, @intCast(@max(wait_ms, 0)));
        if (linux.errno(rc) != .SUCCESS) {
            if (linux.errno(rc) == .INTR) continue;
            break;
        }
        for (pollfds[0..count], owners[0..count]) |pfd, i| {
            if (pfd.revents != 0) advance(&active[i], requests[i], addresses);
        }
    }
    for (active, outcomes) |*slot, *outcome| {
        if (slot.fd >= 0) _ = linux.close(slot.fd);
        outcome.* = if (slot.state == .done) slot.outcome else .down;
    }
}

fn startConnect(slot: *Slot, addresses: []const Address) void {
    while (slot.address_index < addresses.len) : (slot.address_index += 1) {
        const address = &addresses[slot.address_index];
        const rc = linux.socket(address.family(), linux.SOCK.STREAM | linux.SOCK.NONBLOCK | linux.SOCK.CLOEXEC, 0);
        if (linux.errno(rc) != .SUCCESS) continue;
        slot.fd = @intCast(rc);
        slot.connect_started_ms = sys.nowMs();
        const crc = address.connectTo(slot.fd);
        switch (linux.errno(crc)) {
            .SUCCESS => {
                slot.state = .sending;
                return;
            },
            .INPROGRESS, .INTR => {
                slot.state = .connecting;
                return;
            },
            else => {
                _ = linux.close(slot.fd);
                slot.fd = -1;
            },
        }
    }
    slot.state = .done;
    slot.outcome = .down;
}

fn nextAddress(slot: *Slot, addresses: []const Address) void {
    if (slot.fd >= 0) _ = linux.close(slot.fd);
    slot.fd = -1;
    slot.address_index += 1;
    startConnect(slot, addresses);
}

fn finish(slot: *Slot, outcome: Outcome) void {
    if (slot.fd >= 0) _ = linux.close(slot.fd);
    slot.fd = -1;
    slot.state = .done;
    slot.outcome = outcome;
}

fn advance(slot: *Slot, request: []const u8, addresses: []const Address) void {
    switch (slot.state) {
        .connecting => {
            var err: u32 = 0;
            var len: linux.socklen_t = @sizeOf(u32);
            const rc = linux.getsockopt(slot.fd, linux.SOL.SOCKET, linux.SO.ERROR, @ptrCast(&err), &len);
            if (linux.errno(rc) != .SUCCESS or err != 0) return nextAddress(slot, addresses);
            slot.state = .sending;
            advance(slot, request, addresses);
        },
        .sending => {
            const rest = request[slot.sent_bytes..];
            const rc = linux.sendto(slot.fd, rest.ptr, rest.len, linux.MSG.NOSIGNAL, null, 0);
            switch (linux.errno(rc)) {
                .SUCCESS => slot.sent_bytes += rc,
                .AGAIN, .INTR => return,
                else => return finish(slot, .down),
            }
            if (slot.sent_bytes == request.len) slot.state = .reading;
        },
        .reading => {
            const room = slot.head[slot.head_len..];
            const rc = linux.read(slot.fd, room.ptr, room.len);
            switch (linux.errno(rc)) {
                .SUCCESS => {},
                .AGAIN, .INTR => return,
                else => return finish(slot, .down),
            }
            slot.head_len += rc;
            const head = slot.head[0..slot.head_len];
            // Judge once the head is complete, or as soon as it cannot become a hit any more.
            const not_ok = if (std.mem.indexOf(u8, head, "\r\n")) |_| statusOf(head) == null or !std.mem.eql(u8, statusOf(head).?, "200") else false;
            if (not_ok or std.mem.indexOf(u8, head, "\r\n\r\n") != null or rc == 0 or slot.head_len == slot.head.len) {
                finish(slot, outcomeOf(head));
            }
        },
        .done => {},
    }
}

/// The three status digits of a status line that ends in CRLF and matches
/// /^HTTP\/\d(?:\.\d)? (\d{3})/, else null.
fn statusOf(head: []const u8) ?[]const u8 {
    const line_end = std.mem.indexOf(u8, head, "\r\n") orelse return null;
    const line = head[0..line_end];
    if (!std.mem.startsWith(u8, line, "HTTP/") or line.len < 6 or !std.ascii.isDigit(line[5])) return null;
    var pos: usize = 6;
    if (pos + 1 < line.len and line[pos] == '.' and std.ascii.isDigit(line[pos + 1])) pos += 2;
    if (pos + 4 > line.len or line[pos] != ' ') return null;
    const status = line[pos + 1 .. pos + 4];
    for (status) |c| if (!std.ascii.isDigit(c)) return null;
    return status;
}

/// A header line `X-Withcache-Redirected: 1`: name in any ASCII case, value trimmed of SP, HTAB
/// and CR (as probe.ts `isRedirectedLine`).
pub fn isRedirectedLine(line: []const u8) bool {
    const name = "x-withcache-redirected";
    const colon = std.mem.indexOfScalar(u8, line, ':') orelse return false;
    if (!std.ascii.eqlIgnoreCase(line[0..colon], name)) return false;
    return std.mem.eql(u8, std.mem.trim(u8, line[colon + 1 ..], " \t\r"), "1");
}

/// Maps a response head (its first response_head_bytes_max bytes) to an outcome, like
/// src/shim/probe.ts `headOutcome`: the status line decides; a 200 must show the end of its head
/// (CRLF CRLF), and is hit_redirected when a header line says `X-Withcache-Redirected: 1`.
pub fn outcomeOf(head: []const u8) Outcome {
    const status = statusOf(head) orelse return .down;
    if (std.mem.eql(u8, status, "404")) return .miss;
    if (!std.mem.eql(u8, status, "200")) return .down;
    const line_end = std.mem.indexOf(u8, head, "\r\n").?;
    const head_end = std.mem.indexOf(u8, head, "\r\n\r\n") orelse return .down;
    if (head_end == line_end) return .hit;
    var lines = std.mem.splitSequence(u8, head[line_end + 2 .. head_end], "\r\n");
    while (lines.next()) |line| if (isRedirectedLine(line)) return .hit_redirected;
    return .hit;
}

test "outcomeOf reads the status line and the redirect header" {
    try std.testing.expectEqual(Outcome.hit, outcomeOf("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"));
    try std.testing.expectEqual(Outcome.down, outcomeOf("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n")); // head cut off
    try std.testing.expectEqual(Outcome.hit_redirected, outcomeOf("HTTP/1.1 200 OK\r\nA: b\r\nX-Withcache-Redirected:  1 \r\n\r\n"));
    try std.testing.expectEqual(Outcome.hit, outcomeOf("HTTP/1.1 200 OK\r\nx-withcache-redirected: 0\r\n\r\n"));
    try std.testing.expectEqual(Outcome.hit, outcomeOf("HTTP/1.1 200 OK\r\nx-withcache-redirected-not: 1\r\n\r\n"));
    try std.testing.expectEqual(Outcome.miss, outcomeOf("HTTP/1.1 404 Not Found\r\n"));
    try std.testing.expectEqual(Outcome.hit, outcomeOf("HTTP/1.0 200\r\n\r\n"));
    try std.testing.expectEqual(Outcome.down, outcomeOf("HTTP/1.1 500 Internal\r\n"));
    try std.testing.expectEqual(Outcome.hit, outcomeOf("HTTP/2 200\r\n\r\n"));
    try std.testing.expectEqual(Outcome.hit, outcomeOf("HTTP/1.1 2000 x\r\n\r\n")); // as the TypeScript regex
    try std.testing.expectEqual(Outcome.down, outcomeOf("HTTP/1.1 200 OK\n"));
    try std.testing.expectEqual(Outcome.down, outcomeOf("HTTP/1.1 200 OK"));
    try std.testing.expectEqual(Outcome.down, outcomeOf("SSH-2.0-OpenSSH\r\n"));
    try std.testing.expectEqual(Outcome.down, outcomeOf(""));
}

test "probeAll against a closed port is down, quickly" {
    // Bind a socket to an ephemeral port, learn it, close it: nothing listens there now.
    const fd: i32 = @intCast(linux.socket(linux.AF.INET, linux.SOCK.STREAM, 0));
    var sa: linux.sockaddr.in = .{ .port = 0, .addr = @bitCast([4]u8{ 127, 0, 0, 1 }) };
    _ = linux.bind(fd, @ptrCast(&sa), @sizeOf(linux.sockaddr.in));
    var len: linux.socklen_t = @sizeOf(linux.sockaddr.in);
    _ = linux.getsockname(fd, @ptrCast(&sa), &len);
    _ = linux.close(fd);
    const addresses = [_]Address{.{ .v4 = sa }};
    var outcomes: [2]Outcome = .{ .hit, .hit };
    const start_ms = sys.nowMs();
    probeAll(&addresses, &.{ "HEAD / HTTP/1.1\r\n\r\n", "HEAD / HTTP/1.1\r\n\r\n" }, &outcomes, .{
        .connect_timeout_ms = 250,
        .deadline_ms = start_ms + 1000,
    });
    try std.testing.expectEqual(Outcome.down, outcomes[0]);
    try std.testing.expectEqual(Outcome.down, outcomes[1]);
    try std.testing.expect(sys.nowMs() - start_ms < 500);
}

test "probeAll reads hit, miss and other statuses from a live listener" {
    // A forked child accepts three connections and answers each with the next canned response.
    const listener: i32 = @intCast(linux.socket(linux.AF.INET, linux.SOCK.STREAM | linux.SOCK.CLOEXEC, 0));
    defer _ = linux.close(listener);
    var sa: linux.sockaddr.in = .{ .port = 0, .addr = @bitCast([4]u8{ 127, 0, 0, 1 }) };
    try std.testing.expectEqual(@as(usize, 0), linux.bind(listener, @ptrCast(&sa), @sizeOf(linux.sockaddr.in)));
    try std.testing.expectEqual(@as(usize, 0), linux.listen(listener, 8));
    var len: linux.socklen_t = @sizeOf(linux.sockaddr.in);
    _ = linux.getsockname(listener, @ptrCast(&sa), &len);
    const responses = [_][]const u8{ "HTTP/1.1 200 OK\r\nX-Withcache-Redirected: 1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n\r\n", "HTTP/1.1 503 Busy\r\n\r\n" };
    const pid = linux.fork();
    if (pid == 0) {
        // Answer by request order: the request names its index in the path (/0, /1, /2).
        for (0..responses.len) |_| {
            const conn: i32 = @intCast(linux.accept(listener, null, null));
            var buf: [256]u8 = undefined;
            const n = linux.read(conn, &buf, buf.len);
            const index = if (n > 6) buf[6] - '0' else 2;
            const response = responses[@min(index, 2)];
            _ = linux.write(conn, response.ptr, response.len);
            _ = linux.close(conn);
        }
        linux.exit_group(0);
    }
    const addresses = [_]Address{.{ .v4 = sa }};
    var outcomes: [3]Outcome = undefined;
    probeAll(&addresses, &.{ "HEAD /0 HTTP/1.1\r\n\r\n", "HEAD /1 HTTP/1.1\r\n\r\n", "HEAD /2 HTTP/1.1\r\n\r\n" }, &outcomes, .{
        .connect_timeout_ms = 300,
        .deadline_ms = sys.nowMs() + 2000,
    });
    var status: u32 = 0;
    _ = linux.wait4(@intCast(pid), &status, 0, null);
    try std.testing.expectEqualSlices(Outcome, &.{ .hit_redirected, .miss, .down }, &outcomes);
}
