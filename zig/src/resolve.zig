// Host name → addresses for the probe, without libc: IP literals, /etc/hosts, then DNS over UDP
// to the first nameserver of /etc/resolv.conf (A, then AAAA; its search domains and ndots as
// resolv.conf(5) says), all inside the probe's budget.
const std = @import("std");
const linux = std.os.linux;
const Address = @import("probe.zig").Address;
const sys = @import("sys.zig");

pub const addresses_max = 4;
/// /etc/hosts and /etc/resolv.conf beyond this are read only this far.
const config_file_bytes_max = 64 * 1024;
/// DNS messages over UDP without EDNS are at most 512 bytes (RFC 1035 §4.2.1).
const dns_message_bytes_max = 512;
const dns_name_bytes_max = 253;
/// resolv.conf(5) allows six search domains.
const search_domains_max = 6;
/// One query waits at most this long, so a silent nameserver leaves time for the next name.
const dns_query_timeout_ms = 400;
const dns_type_a = 1;
const dns_type_aaaa = 28;

/// Fills `out` with the addresses of `host` (brackets allowed around IPv6) and returns how many.
pub fn resolve(host_raw: []const u8, port: u16, out: *[addresses_max]Address, deadline_ms: i64) usize {
    const host = if (host_raw.len >= 2 and host_raw[0] == '[' and host_raw[host_raw.len - 1] == ']')
        host_raw[1 .. host_raw.len - 1]
    else
        host_raw;
    if (std.Io.net.IpAddress.parse(host, port)) |ip| {
        out[0] = .fromIp(ip);
        return 1;
    } else |_| {}
    var file_buf: [config_file_bytes_max]u8 = undefined;
    const from_hosts = fromHostsFile(readFile("/etc/hosts", &file_buf), host, port, out);
    if (from_hosts > 0) return from_hosts;
    if (std.ascii.eqlIgnoreCase(host, "localhost")) {
        out[0] = .fromIp(.{ .ip4 = .loopback(port) });
        return 1;
    }
    const conf = parseResolvConf(readFile("/etc/resolv.conf", &file_buf));
    var names: NameList = .{};
    searchOrder(host, &conf, &names);
    var name_buf: [dns_name_bytes_max + 1]u8 = undefined;
    for (names.items[0..names.count]) |candidate| {
        const name = std.fmt.bufPrint(&name_buf, "{s}{s}{s}", .{ host, if (candidate.len > 0) "." else "", candidate }) catch continue;
        for ([_]u16{ dns_type_a, dns_type_aaaa }) |qtype| {
            const query_deadline_ms = @min(deadline_ms, sys.nowMs() + dns_query_timeout_ms);
            const answer = queryDns(conf.nameserver, name, qtype, port, out, query_deadline_ms);
            if (answer.count > 0) return answer.count;
            if (!answer.name_exists) break; // NXDOMAIN or no answer: no AAAA either
        }
        if (sys.nowMs() >= deadline_ms) break;
    }
    return 0;
}

pub const ResolvConf = struct {
    nameserver: std.Io.net.IpAddress = .{ .ip4 = .loopback(53) },
    search: [search_domains_max][]const u8 = undefined,
    search_count: usize = 0,
    ndots: usize = 1,
};

pub fn parseResolvConf(text: []const u8) ResolvConf {
    var conf: ResolvConf = .{};
    var have_nameserver = false;
    var lines = std.mem.splitScalar(u8, text, '\n');
    while (lines.next()) |line| {
        var fields = std.mem.tokenizeAny(u8, line, " \t\r");
        const key = fields.next() orelse continue;
        if (std.mem.eql(u8, key, "nameserver") and !have_nameserver) {
            if (std.Io.net.IpAddress.parse(fields.next() orelse continue, 53)) |ip| {
                conf.nameserver = ip;
                have_nameserver = true;
            } else |_| {}
        } else if (std.mem.eql(u8, key, "search") or std.mem.eql(u8, key, "domain")) {
            // The last search or domain line wins.
            conf.search_count = 0;
            while (fields.next()) |domain| {
                if (conf.search_count == search_domains_max) break;
                conf.search[conf.search_count] = std.mem.trimEnd(u8, domain, ".");
                conf.search_count += 1;
            }
        } else if (std.mem.eql(u8, key, "options")) {
            while (fields.next()) |option| {
                if (std.mem.startsWith(u8, option, "ndots:")) conf.ndots = std.fmt.parseInt(u8, option[6..], 10) catch conf.ndots;
            }
        }
    }
    return conf;
}

const NameList = struct {
    /// Suffixes to append ("" = the name as given).
    items: [search_domains_max + 1][]const u8 = undefined,
    count: usize = 0,

    fn add(list: *NameList, suffix: []const u8) void {
        list.items[list.count] = suffix;
        list.count += 1;
    }
};

/// resolv.conf(5): a name with at least ndots dots is tried as given first, else after the
/// search domains; a name ending in a dot is only tried as given.
fn searchOrder(host: []const u8, conf: *const ResolvConf, out: *NameList) void {
    if (std.mem.endsWith(u8, host, ".")) return out.add("");
    const dots = std.mem.count(u8, host, ".");
    if (dots >= conf.ndots) out.add("");
    for (conf.search[0..conf.search_count]) |domain| out.add(domain);
    if (dots < conf.ndots) out.add("");
}

fn readFile(path: [*:0]const u8, buf: []u8) []const u8 {
    const rc = linux.open(path, .{ .CLOEXEC = true }, 0);
    if (linux.errno(rc) != .SUCCESS) return "";
    const fd: i32 = @intCast(rc);
    defer _ = linux.close(fd);
    var len: usize = 0;
    while (len < buf.len) {
        const n = linux.read(fd, buf[len..].ptr, buf.len - len);
        if (linux.errno(n) != .SUCCESS or n == 0) break;
        len += n;
    }
    return buf[0..len];
}

pub fn fromHostsFile(text: []const u8, host: []const u8, port: u16, out: *[addresses_max]Address) usize {
    var count: usize = 0;
    var lines = std.mem.splitScalar(u8, text, '\n');
    while (lines.next()) |line_raw| {
        const line = if (std.mem.indexOfScalar(u8, line_raw, '#')) |i| line_raw[0..i] else line_raw;
        var fields = std.mem.tokenizeAny(u8, line, " \t\r");
        const address_text = fields.next() orelse continue;
        while (fields.next()) |name| {
            if (!std.ascii.eqlIgnoreCase(name, host)) continue;
            const ip = std.Io.net.IpAddress.parse(address_text, port) catch break;
            if (count < out.len) {
                out[count] = .fromIp(ip);
                count += 1;
            }
            break;
        }
    }
    return count;
}

const Answer = struct { count: usize = 0, name_exists: bool = false };

fn queryDns(server: std.Io.net.IpAddress, host: []const u8, qtype: u16, port: u16, out: *[addresses_max]Address, deadline_ms: i64) Answer {
    var query_buf: [dns_message_bytes_max]u8 = undefined;
    const id: u16 = @truncate(@as(u64, @bitCast(sys.nowMs())) *% 2654435761);
    const query = buildQuery(&query_buf, id, host, qtype) orelse return .{};
    const server_address: Address = .fromIp(server);
    const rc = linux.socket(server_address.family(), linux.SOCK.DGRAM | linux.SOCK.NONBLOCK | linux.SOCK.CLOEXEC, 0);
    if (linux.errno(rc) != .SUCCESS) return .{};
    const fd: i32 = @intCast(rc);
    defer _ = linux.close(fd);
    if (linux.errno(server_address.connectTo(fd)) != .SUCCESS) return .{};
    if (linux.errno(linux.sendto(fd, query.ptr, query.len, linux.MSG.NOSIGNAL, null, 0)) != .SUCCESS) return .{};
    var answer_buf: [dns_message_bytes_max]u8 = undefined;
    while (true) {
        const wait_ms = deadline_ms - sys.nowMs();
        if (wait_ms <= 0) return .{};
        var pfd = [1]linux.pollfd{.{ .fd = fd, .events = linux.POLL.IN, .revents = 0 }};
        const prc = linux.poll(&pfd, 1, @intCast(wait_ms));
        if (linux.errno(prc) == .INTR) continue;
        if (linux.errno(prc) != .SUCCESS or prc == 0) return .{};
        const n = linux.read(fd, &answer_buf, answer_buf.len);
        if (linux.errno(n) == .AGAIN or linux.errno(n) == .INTR) continue;
        if (linux.errno(n) != .SUCCESS) return .{};
        return parseAnswer(answer_buf[0..n], id, port, out) orelse continue;
    }
}

/// A standard recursive query for the `qtype` records (A or AAAA) of `host`.
pub fn buildQuery(buf: *[dns_message_bytes_max]u8, id: u16, host: []const u8, qtype: u16) ?[]const u8 {
    const name = std.mem.trimEnd(u8, host, ".");
    if (name.len == 0 or name.len > dns_name_bytes_max) return null;
    std.mem.writeInt(u16, buf[0..2], id, .big);
    @memcpy(buf[2..12], &[_]u8{ 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 });
    var len: usize = 12;
    var labels = std.mem.splitScalar(u8, name, '.');
    while (labels.next()) |label| {
        if (label.len == 0 or label.len > 63) return null;
        buf[len] = @intCast(label.len);
        @memcpy(buf[len + 1 .. len + 1 + label.len], label);
        len += 1 + label.len;
    }
    buf[len] = 0;
    std.mem.writeInt(u16, buf[len + 1 ..][0..2], qtype, .big);
    std.mem.writeInt(u16, buf[len + 3 ..][0..2], 1, .big); // class IN
    return buf[0 .. len + 5];
}

/// The A and AAAA records of a response to query `id`, or null when it is not that response.
pub fn parseAnswer(msg: []const u8, id: u16, port: u16, out: *[addresses_max]Address) ?Answer {
    if (msg.len < 12 or std.mem.readInt(u16, msg[0..2], .big) != id) return null;
    if (msg[2] & 0x80 == 0) return null;
    if (msg[3] & 0x0f != 0) return .{}; // NXDOMAIN, SERVFAIL, …
    const question_count = std.mem.readInt(u16, msg[4..6], .big);
    const answer_count = std.mem.readInt(u16, msg[6..8], .big);
    var pos: usize = 12;
    for (0..question_count) |_| {
        pos = skipName(msg, pos) orelse return .{};
        pos += 4;
    }
    var answer: Answer = .{ .name_exists = true };
    for (0..answer_count) |_| {
        pos = skipName(msg, pos) orelse return answer;
        if (pos + 10 > msg.len) return answer;
        const record_type = std.mem.readInt(u16, msg[pos..][0..2], .big);
        const record_class = std.mem.readInt(u16, msg[pos + 2 ..][0..2], .big);
        const data_len = std.mem.readInt(u16, msg[pos + 8 ..][0..2], .big);
        pos += 10;
        if (pos + data_len > msg.len) return answer;
        if (record_class == 1 and answer.count < out.len) {
            if (record_type == dns_type_a and data_len == 4) {
                out[answer.count] = .fromIp(.{ .ip4 = .{ .bytes = msg[pos..][0..4].*, .port = port } });
                answer.count += 1;
            } else if (record_type == dns_type_aaaa and data_len == 16) {
                out[answer.count] = .fromIp(.{ .ip6 = .{ .bytes = msg[pos..][0..16].*, .port = port } });
                answer.count += 1;
            }
        }
        pos += data_len;
    }
    return answer;
}

fn skipName(msg: []const u8, start: usize) ?usize {
    var pos = start;
    while (pos < msg.len) {
        const len = msg[pos];
        if (len == 0) return pos + 1;
        if (len & 0xc0 == 0xc0) return if (pos + 2 <= msg.len) pos + 2 else null;
        pos += 1 + len;
    }
    return null;
}

test "literals, brackets and the hosts file" {
    var out: [addresses_max]Address = undefined;
    try std.testing.expectEqual(@as(usize, 1), resolve("127.0.0.1", 3000, &out, 0));
    try std.testing.expectEqual(std.mem.nativeToBig(u16, 3000), out[0].v4.port);
    try std.testing.expectEqual(@as(usize, 1), resolve("[::1]", 80, &out, 0));
    try std.testing.expect(out[0] == .v6);
    const hosts = "# comment\n127.0.0.1 localhost\n10.1.2.3\tcache.lab cache # the cache\n::1 localhost ip6-localhost\n";
    try std.testing.expectEqual(@as(usize, 1), fromHostsFile(hosts, "CACHE", 3000, &out));
    try std.testing.expectEqual(@as([4]u8, .{ 10, 1, 2, 3 }), @as([4]u8, @bitCast(out[0].v4.addr)));
    try std.testing.expectEqual(@as(usize, 2), fromHostsFile(hosts, "localhost", 3000, &out));
    try std.testing.expectEqual(@as(usize, 0), fromHostsFile(hosts, "other", 3000, &out));
}

test "dns query and answer round trip" {
    var buf: [dns_message_bytes_max]u8 = undefined;
    const query = buildQuery(&buf, 0x1234, "cache.lab.", dns_type_a).?;
    try std.testing.expectEqualSlices(u8, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05cache\x03lab\x00\x00\x01\x00\x01", query);
    var answer: [dns_message_bytes_max]u8 = undefined;
    @memcpy(answer[0..query.len], query);
    answer[2] = 0x81;
    answer[3] = 0x80;
    answer[7] = 1;
    const record = "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x07";
    @memcpy(answer[query.len .. query.len + record.len], record);
    var out: [addresses_max]Address = undefined;
    try std.testing.expectEqual(@as(usize, 1), parseAnswer(answer[0 .. query.len + record.len], 0x1234, 3000, &out).?.count);
    try std.testing.expectEqual(@as([4]u8, .{ 10, 0, 0, 7 }), @as([4]u8, @bitCast(out[0].v4.addr)));
    try std.testing.expect(parseAnswer(answer[0 .. query.len + record.len], 0x9999, 3000, &out) == null);
    try std.testing.expect(buildQuery(&buf, 1, "a..b", dns_type_a) == null);
}

test "resolv.conf: nameserver, search domains, ndots and the search order" {
    const conf = parseResolvConf("# x\nnameserver bogus\nnameserver 10.0.0.2\nnameserver 10.0.0.3\ndomain old.lab\nsearch lab.example corp.\noptions ndots:2 timeout:1\n");
    try std.testing.expectEqual(@as([4]u8, .{ 10, 0, 0, 2 }), conf.nameserver.ip4.bytes);
    try std.testing.expectEqual(@as(usize, 2), conf.search_count);
    try std.testing.expectEqualStrings("corp", conf.search[1]);
    try std.testing.expectEqual(@as(usize, 2), conf.ndots);
    var names: NameList = .{};
    searchOrder("cache", &conf, &names);
    try std.testing.expectEqual(@as(usize, 3), names.count);
    try std.testing.expectEqualStrings("lab.example", names.items[0]);
    try std.testing.expectEqualStrings("", names.items[2]);
    names = .{};
    searchOrder("a.b.c", &conf, &names);
    try std.testing.expectEqualStrings("", names.items[0]);
    names = .{};
    searchOrder("cache.", &conf, &names);
    try std.testing.expectEqual(@as(usize, 1), names.count);
}
