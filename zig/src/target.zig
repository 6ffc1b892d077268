// Where a probe goes: the cache URL split the way src/shim/probe.ts uses WHATWG URL (host,
// port, Host header, request target), and which proxy the real tool would use for it
// (src/core/plan/proxy.ts: environment only).
const std = @import("std");
const env = @import("env.zig");
const text = @import("text.zig");
const Tool = @import("plan.zig").Tool;

pub const Url = struct {
    https: bool,
    /// Lower-cased, brackets kept for IPv6 (as WHATWG `hostname`).
    hostname: []const u8,
    port: u16,
    /// `host[:port]`, the port only when not the scheme's default (as WHATWG `host`).
    host_header: []const u8,
    /// Path and query, from the first `/` after the authority ("" → "/").
    path_and_query: []const u8,
    username: []const u8,
    password: []const u8,
};

/// Splits an http(s) URL; null when it is not one or its host or port is malformed.
pub fn parseUrl(url: []const u8, host_buf: []u8) ?Url {
    const https = std.ascii.startsWithIgnoreCase(url, "https://");
    if (!https and !std.ascii.startsWithIgnoreCase(url, "http://")) return null;
    const rest = url[if (https) 8 else 7..];
    const authority_end = std.mem.indexOfAny(u8, rest, "/?#\\") orelse rest.len;
    var authority = rest[0..authority_end];
    var username: []const u8 = "";
    var password: []const u8 = "";
    if (std.mem.lastIndexOfScalar(u8, authority, '@')) |at| {
        const userinfo = authority[0..at];
        const colon = std.mem.indexOfScalar(u8, userinfo, ':');
        username = userinfo[0 .. colon orelse userinfo.len];
        password = if (colon) |c| userinfo[c + 1 ..] else "";
        authority = authority[at + 1 ..];
    }
    const default_port: u16 = if (https) 443 else 80;
    var hostname = authority;
    var port = default_port;
    const bracket_end = if (std.mem.startsWith(u8, authority, "[")) std.mem.indexOfScalar(u8, authority, ']') orelse return null else null;
    const port_colon = if (bracket_end) |b|
        (if (b + 1 < authority.len) (if (authority[b + 1] == ':') b + 1 else return null) else null)
    else
        std.mem.indexOfScalar(u8, authority, ':');
    if (port_colon) |c| {
        hostname = authority[0..c];
        const port_text = authority[c + 1 ..];
        if (port_text.len > 0) port = std.fmt.parseInt(u16, port_text, 10) catch return null;
        for (port_text) |d| if (!std.ascii.isDigit(d)) return null;
    }
    if (hostname.len == 0) return null;
    for (hostname) |c| if (c <= 0x20 or c >= 0x7f or std.mem.indexOfScalar(u8, "#%/<>?@\\^|", c) != null) return null;
    const lower = host_buf[0..@min(hostname.len, host_buf.len)];
    if (lower.len < hostname.len) return null;
    for (hostname, lower) |c, *l| l.* = std.ascii.toLower(c);
    const with_port = port != default_port;
    const header_len = lower.len + @as(usize, if (with_port) 6 else 0);
    if (header_len > host_buf.len - lower.len) return null;
    const header = if (with_port)
        std.fmt.bufPrint(host_buf[lower.len..], "{s}:{d}", .{ lower, port }) catch return null
    else blk: {
        @memcpy(host_buf[lower.len .. lower.len * 2], lower);
        break :blk host_buf[lower.len .. lower.len * 2];
    };
    const after = rest[authority_end..];
    const hash = std.mem.indexOfScalar(u8, after, '#') orelse after.len;
    return .{
        .https = https,
        .hostname = lower,
        .port = port,
        .host_header = header,
        .path_and_query = after[0..hash],
        .username = username,
        .password = password,
    };
}

/// Percent-encodes what WHATWG URL would in a path or query (controls, space, non-ASCII and
/// `"<>\`{}`), so the cache-host parses our request line as it parses the TypeScript shim's.
pub fn writeRequestTarget(w: *std.Io.Writer, path_and_query: []const u8) !void {
    if (path_and_query.len == 0 or path_and_query[0] != '/') try w.writeByte('/');
    for (path_and_query) |c| {
        if (c <= 0x20 or c >= 0x7f or std.mem.indexOfScalar(u8, "\"<>`{}", c) != null) {
            try w.print("%{X:0>2}", .{c});
        } else try w.writeByte(c);
    }
}

pub const Proxy = union(enum) {
    direct,
    /// An http:// proxy: the probe sends an absolute-form request to it.
    http: []const u8,
    /// An https:// proxy: the probe goes through the real tool, which speaks TLS to it.
    https: []const u8,
    /// socks and the like: the probe reports unreachable and the command passes through.
    unsupported,
};

fn firstSet(envp: env.Block, names: []const []const u8) ?[]const u8 {
    for (names) |name| if (env.get(envp, name)) |value| if (value.len > 0) return value;
    return null;
}

/// proxy.ts `proxyFor`: curl reads http_proxy (lower case only) for http, https_proxy or
/// HTTPS_PROXY for https, then all_proxy/ALL_PROXY, exempting no_proxy/NO_PROXY hosts; wget reads
/// only the lower-case http_proxy/https_proxy/no_proxy.
pub fn proxyFor(tool: Tool, https: bool, hostname: []const u8, envp: env.Block, scratch: []u8) Proxy {
    const proxy = switch (tool) {
        .curl => if (https)
            firstSet(envp, &.{ "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" })
        else
            firstSet(envp, &.{ "http_proxy", "all_proxy", "ALL_PROXY" }),
        .wget => firstSet(envp, &.{if (https) "https_proxy" else "http_proxy"}),
    } orelse return .direct;
    const no_proxy = switch (tool) {
        .curl => firstSet(envp, &.{ "no_proxy", "NO_PROXY" }),
        .wget => firstSet(envp, &.{"no_proxy"}),
    };
    if (hostIsExempt(hostname, no_proxy)) return .direct;
    const with_scheme = if (hasScheme(proxy)) proxy else std.fmt.bufPrint(scratch, "http://{s}", .{proxy}) catch return .unsupported;
    if (std.ascii.startsWithIgnoreCase(with_scheme, "http://")) return .{ .http = with_scheme };
    if (std.ascii.startsWithIgnoreCase(with_scheme, "https://")) return .{ .https = with_scheme };
    return .unsupported;
}

/// /^[a-z][a-z0-9+.-]*:\/\//i
fn hasScheme(s: []const u8) bool {
    if (s.len == 0 or !std.ascii.isAlphabetic(s[0])) return false;
    var i: usize = 1;
    while (i < s.len and (std.ascii.isAlphanumeric(s[i]) or s[i] == '+' or s[i] == '.' or s[i] == '-')) i += 1;
    return std.mem.startsWith(u8, s[i..], "://");
}

fn stripBrackets(s: []const u8) []const u8 {
    var r = s;
    if (std.mem.startsWith(u8, r, "[")) r = r[1..];
    if (std.mem.endsWith(u8, r, "]")) r = r[0 .. r.len - 1];
    return r;
}

/// no_proxy: comma-separated; `*` is everything; an entry matches the host or any subdomain.
pub fn hostIsExempt(hostname: []const u8, no_proxy: ?[]const u8) bool {
    const list = no_proxy orelse return false;
    const host = stripBrackets(hostname);
    var entries = std.mem.splitScalar(u8, list, ',');
    while (entries.next()) |raw| {
        var entry = text.jsTrim(raw);
        if (std.mem.startsWith(u8, entry, ".")) entry = entry[1..];
        entry = stripBrackets(entry);
        if (entry.len == 0) continue;
        if (std.mem.eql(u8, entry, "*")) return true;
        if (host.len < entry.len) continue;
        const tail = host[host.len - entry.len ..];
        if (!std.ascii.eqlIgnoreCase(tail, entry)) continue;
        if (host.len == entry.len or host[host.len - entry.len - 1] == '.') return true;
    }
    return false;
}

/// `Proxy-Authorization: Basic …\r\n` for a proxy URL with credentials, else "".
pub fn writeProxyAuth(w: *std.Io.Writer, proxy: Url) !void {
    if (proxy.username.len == 0 and proxy.password.len == 0) return;
    var plain_buf: [1024]u8 = undefined;
    var plain: std.Io.Writer = .fixed(&plain_buf);
    try percentDecode(&plain, proxy.username);
    try plain.writeByte(':');
    try percentDecode(&plain, proxy.password);
    var encoded: [std.base64.standard.Encoder.calcSize(plain_buf.len)]u8 = undefined;
    try w.print("Proxy-Authorization: Basic {s}\r\n", .{std.base64.standard.Encoder.encode(&encoded, plain.buffered())});
}

fn percentDecode(w: *std.Io.Writer, s: []const u8) !void {
    var i: usize = 0;
    while (i < s.len) : (i += 1) {
        // Exactly two hex digits after '%' decode; anything else stays as typed (no sign, no error).
        if (s[i] == '%' and i + 2 < s.len) {
            const hi = std.fmt.charToDigit(s[i + 1], 16) catch null;
            const lo = std.fmt.charToDigit(s[i + 2], 16) catch null;
            if (hi != null and lo != null) {
                try w.writeByte(hi.? * 16 + lo.?);
                i += 2;
                continue;
            }
        }
        try w.writeByte(s[i]);
    }
}

test "percentDecode keeps malformed escapes as typed" {
    var buf: [64]u8 = undefined;
    var w: std.Io.Writer = .fixed(&buf);
    try percentDecode(&w, "a%41%zz%+1%4");
    try std.testing.expectEqualStrings("aA%zz%+1%4", w.buffered());
}

test "parseUrl splits like WHATWG URL for our cache urls" {
    var buf: [256]u8 = undefined;
    const u = parseUrl("HTTP://Cache.Lab:3000/p/b/abc/x.tgz?q=1#f", &buf).?;
    try std.testing.expectEqualStrings("cache.lab", u.hostname);
    try std.testing.expectEqual(@as(u16, 3000), u.port);
    try std.testing.expectEqualStrings("cache.lab:3000", u.host_header);
    try std.testing.expectEqualStrings("/p/b/abc/x.tgz?q=1", u.path_and_query);
    const v = parseUrl("https://u:p%40@[::1]/x", &buf).?;
    try std.testing.expectEqualStrings("[::1]", v.hostname);
    try std.testing.expectEqual(@as(u16, 443), v.port);
    try std.testing.expectEqualStrings("[::1]", v.host_header);
    try std.testing.expectEqualStrings("u", v.username);
    try std.testing.expect(parseUrl("http://h:99999/", &buf) == null);
    try std.testing.expect(parseUrl("http://:80/", &buf) == null);
    try std.testing.expect(parseUrl("ftp://h/", &buf) == null);
    const w = parseUrl("http://h:80", &buf).?;
    try std.testing.expectEqualStrings("h", w.host_header);
}

test "proxyFor follows the tool's environment" {
    var scratch: [256]u8 = undefined;
    try std.testing.expect(proxyFor(.curl, false, "c", &.{"HTTP_PROXY=p:1"}, &scratch) == .direct);
    try std.testing.expectEqualStrings("http://p:1", proxyFor(.curl, false, "c", &.{"http_proxy=p:1"}, &scratch).http);
    try std.testing.expectEqualStrings("http://a:2", proxyFor(.curl, false, "c", &.{"ALL_PROXY=http://a:2"}, &scratch).http);
    try std.testing.expect(proxyFor(.wget, false, "c", &.{"ALL_PROXY=http://a:2"}, &scratch) == .direct);
    try std.testing.expect(proxyFor(.curl, false, "c.lab", &.{ "http_proxy=p:1", "NO_PROXY=.lab" }, &scratch) == .direct);
    try std.testing.expect(proxyFor(.curl, false, "c.lab", &.{ "http_proxy=socks5://p:1", "NO_PROXY=other" }, &scratch) == .unsupported);
    try std.testing.expect(proxyFor(.curl, true, "c", &.{"HTTPS_PROXY=https://p"}, &scratch) == .https);
    try std.testing.expect(hostIsExempt("[::1]", " ::1 "));
    try std.testing.expect(!hostIsExempt("xlab", "lab"));
    try std.testing.expect(hostIsExempt("anything", "a,*"));
}

test "writeProxyAuth decodes credentials" {
    var buf: [256]u8 = undefined;
    var host_buf: [256]u8 = undefined;
    var w: std.Io.Writer = .fixed(&buf);
    try writeProxyAuth(&w, parseUrl("http://us%40r:p%3Aw@proxy:3128", &host_buf).?);
    try std.testing.expectEqualStrings("Proxy-Authorization: Basic dXNAcjpwOnc=\r\n", w.buffered());
}
