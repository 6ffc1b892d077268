// The planner: walk a curl/wget argv the way the tool does, find the URLs, and decide the final
// argv from probe outcomes. The rules are src/core/plan/README.md, the oracle is
// src/core/plan/plan.ts, the option tables are src/core/tool-options.json (via build.zig).
// Pure: no syscalls. Works on raw bytes; all storage is fixed-size (see limits.zig).
const std = @import("std");
const tool_options = @import("tool_options");
const limits = @import("limits.zig");
const text = @import("text.zig");
const token = @import("token.zig");

pub const Tool = enum { curl, wget };
pub const Outcome = @import("probe.zig").Outcome;

/// One tool's table from tool-options.json (keys documented in src/core/plan/README.md).
pub const Table = struct {
    short_with_value: []const u8 = "",
    short_flags: []const u8 = "",
    long_with_value: []const []const u8 = &.{},
    long_flags: []const []const u8 = &.{},
    long_abbreviations: bool = false,
    long_equals_value: bool = false,
    flags_accept_equals_value: bool = false,
    no_prefix_negates_flags: bool = false,
    url_long: []const []const u8 = &.{},
    globoff_short: []const u8 = "",
    globoff_long: []const []const u8 = &.{},
    glob_chars: []const u8 = "",
    credential_short: []const u8 = "",
    credential_long: []const []const u8 = &.{},
    header_short: []const u8 = "",
    header_long: []const []const u8 = &.{},
    credential_headers: []const []const u8 = &.{},
    passthrough_headers: []const []const u8 = &.{},
    method_short: []const u8 = "",
    method_long: []const []const u8 = &.{},
    method_allowed: []const []const u8 = &.{},
    passthrough_short: []const u8 = "",
    passthrough_long: []const []const u8 = &.{},
    execute_short: []const u8 = "",
    execute_long: []const []const u8 = &.{},
    execute_passthrough: []const []const u8 = &.{},
    execute_credentials: []const []const u8 = &.{},
    execute_header: []const []const u8 = &.{},
    protocols_long: []const []const u8 = &.{},
    redirects_followed_by_default: bool = false,
    redirect_follow_short: []const u8 = "",
    redirect_follow_long: []const []const u8 = &.{},
    redirect_max_long: []const []const u8 = &.{},
    execute_redirect_max: []const []const u8 = &.{},
};

/// A key missing from the JSON reads as false/empty, as `undefined` does in the TypeScript.
fn tableFrom(comptime ns: type) Table {
    var table: Table = .{};
    for (@typeInfo(Table).@"struct".fields) |field| {
        if (@hasDecl(ns, field.name)) @field(table, field.name) = @field(ns, field.name);
    }
    return table;
}

pub const tables = std.EnumArray(Tool, Table).init(.{
    .curl = tableFrom(tool_options.curl),
    .wget = tableFrom(tool_options.wget),
});

/// A URL occurrence: argument `index`, the URL starting `prefix_len` bytes in (after `--url=`).
pub const Occurrence = struct { index: u32, prefix_len: u32 };

pub const Scan = struct {
    passthrough: bool = false,
    globoff: bool = false,
    /// Cache schemes some curl `--proto` forbids: a cache URL there would be refused (exit 1).
    proto_denies_http: bool = false,
    proto_denies_https: bool = false,
    has_credentials: bool = false,
    /// The last option turning redirect following on/off, and whether the last redirect limit
    /// lets the tool follow one; a redirected hit is used only when both hold (followsRedirects).
    follow_option: bool = false,
    limit_allows: bool = true,
    occurrence_count: usize = 0,
    occurrences: [limits.arg_count_max]Occurrence = undefined,
    /// Credential edits: drop the whole element, or rewrite a short bundle (see finish).
    drop_whole: [limits.arg_count_max]bool = undefined,
    bundle_edit: [limits.arg_count_max]bool = undefined,
    /// Position of a credential value letter whose attached value goes with it; 0 = none.
    bundle_tail: [limits.arg_count_max]u32 = undefined,
};

pub const Args = struct {
    ptrs: []const [*:0]const u8,
    lens: []const u32,

    pub fn get(args: Args, i: usize) []const u8 {
        return args.ptrs[i][0..args.lens[i]];
    }
};

/// Measures the arguments; null (→ pass through, byte for byte) beyond argv_count_max or
/// arg_bytes_max, or when an argument is not valid UTF-8 (README "Walking argv" 1).
pub fn measure(ptrs: []const [*:0]const u8, lens: *[limits.arg_count_max]u32) ?Args {
    if (ptrs.len > limits.arg_count_max) return null;
    for (ptrs, lens[0..ptrs.len]) |p, *len| {
        const n = std.mem.len(p);
        if (n > limits.arg_bytes_max) return null;
        len.* = @intCast(n);
    }
    for (ptrs, lens[0..ptrs.len]) |p, len| if (!std.unicode.utf8ValidateSlice(p[0..len])) return null;
    return .{ .ptrs = ptrs, .lens = lens[0..ptrs.len] };
}

fn hasLetter(letters: []const u8, letter: u8) bool {
    return std.mem.indexOfScalar(u8, letters, letter) != null;
}

const Resolved = struct { name: []const u8, takes_value: bool, negated: bool };

fn resolveLong(table: *const Table, name: []const u8) ?Resolved {
    if (text.contains(table.long_with_value, name)) return .{ .name = name, .takes_value = true, .negated = false };
    if (text.contains(table.long_flags, name)) return .{ .name = name, .takes_value = false, .negated = false };
    if (table.no_prefix_negates_flags and std.mem.startsWith(u8, name, "no-") and text.contains(table.long_flags, name[3..])) {
        return .{ .name = name[3..], .takes_value = false, .negated = true };
    }
    if (table.long_abbreviations and name.len > 0) {
        var hit: ?[]const u8 = null;
        var hits: usize = 0;
        for ([_][]const []const u8{ table.long_with_value, table.long_flags }) |list| {
            for (list) |candidate| if (std.mem.startsWith(u8, candidate, name)) {
                hit = candidate;
                hits += 1;
            };
        }
        if (hits == 1) return resolveLong(table, hit.?);
    }
    return null;
}

/// A request header: a credential, one that selects the representation or conditions the answer
/// (`Accept`, `Host`, `If-None-Match`, …: the cache keys by URL alone) → pass-through, or nothing.
fn headerEffect(table: *const Table, value: []const u8) Effect {
    if (std.mem.startsWith(u8, value, "@")) return .passthrough; // curl reads headers from a file
    const end = std.mem.indexOfAny(u8, value, ":;") orelse value.len;
    const name = text.jsTrim(value[0..end]);
    for (table.passthrough_headers) |header| if (text.jsLowerEql(name, header)) return .passthrough;
    for (table.credential_headers) |header| if (text.jsLowerEql(name, header)) return .credential;
    return .none;
}

fn isFalseValue(value: []const u8) bool {
    return text.jsLowerEql(value, "off") or text.jsLowerEql(value, "no") or text.jsLowerEql(value, "0");
}

const Effect = enum { none, passthrough, credential };

/// Does a redirect limit (curl `--max-redirs N`, wget `--max-redirect=N`) let the tool follow
/// one? Only a plain integer (optional leading `-`) with a non-zero digit, as plan.ts.
pub fn redirectLimitAllows(value: []const u8) bool {
    const digits = if (std.mem.startsWith(u8, value, "-")) value[1..] else value;
    if (digits.len == 0) return false;
    var non_zero = false;
    for (digits) |c| {
        if (!std.ascii.isDigit(c)) return false;
        if (c != '0') non_zero = true;
    }
    return non_zero;
}

/// A wget `-e COMMAND` as wgetrc reads it: name trimmed, lower-cased, without `-`/`_` (null when
/// it does not lower-case to short ASCII: then it is none of the ASCII table names); value trimmed.
const ExecuteParts = struct {
    name_buf: [64]u8 = undefined,
    name_len: ?usize = null,
    value: []const u8 = "",

    fn init(parts: *ExecuteParts, command: []const u8) void {
        const eq = std.mem.indexOfScalar(u8, command, '=');
        const raw_name = text.jsTrim(if (eq) |i| command[0..i] else command);
        parts.value = if (eq) |i| text.jsTrim(command[i + 1 ..]) else "";
        var lower_buf: [64]u8 = undefined;
        parts.name_len = null;
        if (text.jsLowerAscii(raw_name, &lower_buf)) |lower| {
            var len: usize = 0;
            for (lower) |c| if (c != '-' and c != '_') {
                parts.name_buf[len] = c;
                len += 1;
            };
            parts.name_len = len;
        }
    }

    fn name(parts: *const ExecuteParts) ?[]const u8 {
        return if (parts.name_len) |len| parts.name_buf[0..len] else null;
    }
};

/// wget `-e COMMAND`: name trimmed, lower-cased, without `-`/`_`; value trimmed.
fn executeEffect(table: *const Table, parts: *const ExecuteParts) Effect {
    const name = parts.name();
    const value = parts.value;
    if (name != null and text.contains(table.execute_header, name.?)) {
        return headerEffect(table, value);
    }
    if (isFalseValue(value)) return .none;
    if (name != null and text.contains(table.execute_passthrough, name.?)) return .passthrough;
    if (name != null and text.contains(table.execute_credentials, name.?)) return .credential;
    return .none;
}

const Use = struct {
    short: ?u8 = null,
    long: []const u8 = "",
    on: bool,
    value: ?[]const u8,

    fn listed(use: Use, short_letters: []const u8, long_names: []const []const u8) bool {
        if (use.short) |letter| return hasLetter(short_letters, letter);
        return text.contains(long_names, use.long);
    }
};

/// Would curl's `--proto LIST` allow `scheme`? Each token is `[=+-]*name` (the last modifier
/// wins; none means `+`), applied left to right to the set of all protocols: `=x` only x, `+x`
/// add, `-x` remove, `all` every protocol. Anything else (empty tokens, spaces, upper case)
/// counts as forbidding it, so the command passes through and curl judges the list itself.
pub fn protoAllows(list: []const u8, scheme: []const u8) bool {
    var allowed = true;
    var tokens = std.mem.splitScalar(u8, list, ',');
    while (tokens.next()) |tok| {
        var k: usize = 0;
        var action: u8 = '+';
        while (k < tok.len and (tok[k] == '=' or tok[k] == '+' or tok[k] == '-')) : (k += 1) action = tok[k];
        const name = tok[k..];
        if (name.len == 0) return false;
        for (name) |c| if (!std.ascii.isDigit(c) and !std.ascii.isLower(c)) return false;
        if (std.mem.eql(u8, name, "all")) {
            allowed = action != '-';
        } else if (action == '=') {
            allowed = std.mem.eql(u8, name, scheme);
        } else if (std.mem.eql(u8, name, scheme)) {
            allowed = action == '+';
        }
    }
    return allowed;
}

/// The plan-relevant meaning of one option use (README "What each option does").
fn apply(table: *const Table, scan_out: *Scan, use: Use) Effect {
    if (use.listed(table.passthrough_short, table.passthrough_long) and use.on) return .passthrough;
    if (use.listed(table.method_short, table.method_long)) {
        // A method option always takes a value; a table that lists a flag there passes through.
        if (!text.contains(table.method_allowed, use.value orelse return .passthrough)) return .passthrough;
    }
    if (use.listed(table.globoff_short, table.globoff_long)) scan_out.globoff = use.on;
    if (use.short == null and text.contains(table.protocols_long, use.long)) {
        const list = use.value orelse "";
        if (!protoAllows(list, "http")) scan_out.proto_denies_http = true;
        if (!protoAllows(list, "https")) scan_out.proto_denies_https = true;
    }
    if (use.listed(table.redirect_follow_short, table.redirect_follow_long)) scan_out.follow_option = use.on;
    if (use.short == null and text.contains(table.redirect_max_long, use.long)) scan_out.limit_allows = redirectLimitAllows(use.value orelse "");
    if (use.short == null and text.contains(table.url_long, use.long)) return .none;
    if (use.listed(table.execute_short, table.execute_long)) {
        var parts: ExecuteParts = .{};
        parts.init(use.value orelse "");
        if (parts.name()) |name| if (text.contains(table.execute_redirect_max, name)) {
            scan_out.limit_allows = redirectLimitAllows(parts.value);
        };
        return executeEffect(table, &parts);
    }
    if (use.listed(table.header_short, table.header_long)) {
        return headerEffect(table, use.value orelse "");
    }
    if (use.listed(table.credential_short, table.credential_long) and use.on) return .credential;
    return .none;
}

/// Walks argv as the tool does (README "Walking argv"). Sets `passthrough` when the command
/// must run untouched.
pub fn scan(tool: Tool, args: Args, out: *Scan) void {
    const table = tables.getPtrConst(tool);
    out.* = .{ .follow_option = table.redirects_followed_by_default };
    @memset(out.drop_whole[0..args.ptrs.len], false);
    @memset(out.bundle_edit[0..args.ptrs.len], false);
    @memset(out.bundle_tail[0..args.ptrs.len], 0);
    var end_of_options = false;
    var i: usize = 0;
    while (i < args.ptrs.len) : (i += 1) {
        const arg = args.get(i);
        const is_option = !end_of_options and arg.len > 0 and arg[0] == '-' and (arg.len > 1 or tool == .curl);
        if (!is_option) {
            out.occurrences[out.occurrence_count] = .{ .index = @intCast(i), .prefix_len = 0 };
            out.occurrence_count += 1;
            continue;
        }
        if (std.mem.eql(u8, arg, "--")) {
            end_of_options = true;
            continue;
        }
        if (arg.len == 1) return passThrough(out); // curl: `-` is an unknown option
        if (arg[1] == '-') {
            if (!scanLong(table, args, &i, out)) return passThrough(out);
            continue;
        }
        if (!scanBundle(table, args, &i, out)) return passThrough(out);
    }
}

/// The tool follows redirects itself (curl -L, wget unless --max-redirect=0).
pub fn followsRedirects(scanned: *const Scan) bool {
    return scanned.follow_option and scanned.limit_allows;
}

fn passThrough(out: *Scan) void {
    out.passthrough = true;
}

fn scanLong(table: *const Table, args: Args, i: *usize, out: *Scan) bool {
    const arg = args.get(i.*);
    var name = arg[2..];
    var attached: ?[]const u8 = null;
    if (table.long_equals_value) if (std.mem.indexOfScalar(u8, name, '=')) |eq| {
        attached = name[eq + 1 ..];
        name = name[0..eq];
    };
    const resolved = resolveLong(table, name) orelse return false;
    var value: ?[]const u8 = null;
    var value_index: ?usize = null;
    if (resolved.takes_value) {
        if (attached) |a| value = a else {
            if (i.* + 1 >= args.ptrs.len) return false;
            i.* += 1;
            value_index = i.*;
            value = args.get(i.*);
        }
    } else if (attached != null and !table.flags_accept_equals_value) return false;
    const on = resolved.takes_value or (!resolved.negated and !std.mem.startsWith(u8, resolved.name, "no-") and
        !(attached != null and isFalseValue(attached.?)));
    const element_index = if (value_index == null) i.* else i.* - 1;
    if (text.contains(table.url_long, resolved.name)) {
        out.occurrences[out.occurrence_count] = if (value_index) |vi|
            .{ .index = @intCast(vi), .prefix_len = 0 }
        else
            .{ .index = @intCast(i.*), .prefix_len = @intCast(arg.len - value.?.len) };
        out.occurrence_count += 1;
    }
    switch (apply(table, out, .{ .long = resolved.name, .on = on, .value = value })) {
        .passthrough => return false,
        .credential => {
            out.has_credentials = true;
            out.drop_whole[element_index] = true;
            if (value_index) |vi| out.drop_whole[vi] = true;
        },
        .none => {},
    }
    return true;
}

fn scanBundle(table: *const Table, args: Args, i: *usize, out: *Scan) bool {
    const bundle_index = i.*;
    const arg = args.get(bundle_index);
    var j: usize = 1;
    while (j < arg.len) : (j += 1) {
        const letter = arg[j];
        if (hasLetter(table.short_with_value, letter)) {
            var value: []const u8 = undefined;
            var value_index: ?usize = null;
            if (j + 1 < arg.len) value = arg[j + 1 ..] else {
                if (i.* + 1 >= args.ptrs.len) return false;
                i.* += 1;
                value_index = i.*;
                value = args.get(i.*);
            }
            switch (apply(table, out, .{ .short = letter, .on = true, .value = value })) {
                .passthrough => return false,
                .credential => {
                    out.has_credentials = true;
                    out.bundle_edit[bundle_index] = true;
                    out.bundle_tail[bundle_index] = @intCast(j);
                    if (value_index) |vi| out.drop_whole[vi] = true;
                },
                .none => {},
            }
            return true;
        }
        if (hasLetter(table.short_flags, letter)) {
            switch (apply(table, out, .{ .short = letter, .on = true, .value = null })) {
                .passthrough => return false,
                .credential => {
                    out.has_credentials = true;
                    out.bundle_edit[bundle_index] = true;
                },
                .none => {},
            }
            continue;
        }
        return false;
    }
    return true;
}

/// The parts of a candidate URL the cache URL is built from.
pub const Parts = struct { token_url: []const u8, basename: []const u8, query: []const u8 };

/// README "Candidates": null when the URL is not probed.
pub fn candidateParts(tool: Tool, url: []const u8, globoff: bool) ?Parts {
    const table = tables.getPtrConst(tool);
    if (url.len > limits.url_bytes_max) return null;
    const scheme_len: usize = if (std.ascii.startsWithIgnoreCase(url, "http://"))
        7
    else if (std.ascii.startsWithIgnoreCase(url, "https://")) 8 else return null;
    for (url) |c| if (c <= 0x20 or c == 0x7f or c == '\\') return null;
    if (!globoff) {
        const globbed = url[ipv6HostEnd(url, scheme_len)..];
        for (table.glob_chars) |c| if (std.mem.indexOfScalar(u8, globbed, c) != null) return null;
    }
    const token_url = url[0 .. std.mem.indexOfScalar(u8, url, '#') orelse url.len];
    const question = std.mem.indexOfScalar(u8, token_url, '?');
    const before_query = token_url[0 .. question orelse token_url.len];
    const query = if (question) |q| token_url[q..] else "";
    const after_scheme = before_query[scheme_len..];
    const slash = std.mem.indexOfScalar(u8, after_scheme, '/');
    const authority = after_scheme[0 .. slash orelse after_scheme.len];
    if (authority.len == 0 or std.mem.indexOfScalar(u8, authority, '@') != null) return null;
    const path = if (slash) |s| after_scheme[s..] else "";
    const basename = path[if (std.mem.lastIndexOfScalar(u8, path, '/')) |s| s + 1 else 0..];
    if (std.mem.eql(u8, basename, ".") or std.mem.eql(u8, basename, "..")) return null;
    return .{ .token_url = token_url, .basename = basename, .query = query };
}

/// Index just past the host when it is a bracketed IPv6 address (`http://[::1]:8080/x`), else 0.
/// curl does not glob such a host, so its brackets are not glob characters; any other `[` `]`
/// `{` `}` in the URL still are.
fn ipv6HostEnd(url: []const u8, scheme_len: usize) usize {
    if (url.len <= scheme_len or url[scheme_len] != '[') return 0;
    const close = std.mem.indexOfScalarPos(u8, url, scheme_len, ']') orelse return 0;
    if (!isIpv6Address(url[scheme_len + 1 .. close])) return 0;
    return close + 1;
}

/// RFC 4291 text form: eight groups of 1-4 hex digits, or fewer around one `::`; the last 32 bits
/// may be a dotted IPv4 address (no leading zeros). No zone id. A subset of what inet_pton (and
/// so curl) accepts.
pub fn isIpv6Address(address: []const u8) bool {
    const gap = std.mem.indexOf(u8, address, "::") orelse return ipv6Groups(address, true) == 8;
    const tail_text = address[gap + 2 ..];
    if (std.mem.indexOf(u8, tail_text, "::") != null) return false;
    const head = ipv6Groups(address[0..gap], false) orelse return false;
    const tail = ipv6Groups(tail_text, true) orelse return false;
    return head + tail <= 7;
}

/// 16-bit groups in a `:`-separated run (a dotted IPv4 tail counts 2); null if malformed.
fn ipv6Groups(run: []const u8, ipv4_tail: bool) ?usize {
    if (run.len == 0) return 0;
    var count: usize = 0;
    var groups = std.mem.splitScalar(u8, run, ':');
    while (groups.next()) |group| {
        const last = groups.peek() == null;
        if (ipv4_tail and last and std.mem.indexOfScalar(u8, group, '.') != null) {
            if (!isDottedIpv4(group)) return null;
            count += 2;
        } else if (group.len >= 1 and group.len <= 4 and allHex(group)) {
            count += 1;
        } else return null;
    }
    return count;
}

fn allHex(digits: []const u8) bool {
    for (digits) |c| if (!std.ascii.isHex(c)) return false;
    return true;
}

fn isDottedIpv4(dotted: []const u8) bool {
    var octets = std.mem.splitScalar(u8, dotted, '.');
    var count: usize = 0;
    while (octets.next()) |octet| : (count += 1) {
        if (octet.len == 0 or octet.len > 3 or (octet.len > 1 and octet[0] == '0')) return false;
        for (octet) |c| if (!std.ascii.isDigit(c)) return false;
        if ((std.fmt.parseInt(u16, octet, 10) catch return false) > 255) return false;
    }
    return count == 4;
}

/// README "Cache URL": the server setting as a base URL without a trailing slash.
pub fn serverBase(server: []const u8, out: []u8) ?[]const u8 {
    var len: usize = 0;
    if (std.ascii.startsWithIgnoreCase(server, "http://") or std.ascii.startsWithIgnoreCase(server, "https://")) {
        if (server.len > out.len) return null;
        @memcpy(out[0..server.len], server);
        len = server.len;
    } else {
        const slash = std.mem.indexOfScalar(u8, server, '/');
        const host_port = server[0 .. slash orelse server.len];
        const rest = if (slash) |s| server[s..] else "";
        const has_port = if (std.mem.startsWith(u8, host_port, "["))
            std.mem.indexOf(u8, host_port, "]:") != null
        else
            std.mem.indexOfScalar(u8, host_port, ':') != null;
        const port_text = if (has_port) "" else ":" ++ std.fmt.comptimePrint("{d}", .{default_server_port});
        const result = std.fmt.bufPrint(out, "http://{s}{s}{s}", .{ host_port, port_text, rest }) catch return null;
        len = result.len;
    }
    while (len > 0 and out[len - 1] == '/') len -= 1;
    return out[0..len];
}

/// `withcache serve` listens here by default, so a bare host means that port.
pub const default_server_port = 3000;

/// Distinct candidate URLs of a scan and their cache URLs.
pub const Candidates = struct {
    count: usize = 0,
    /// Occurrence → candidate slot, or null when that occurrence is not a candidate.
    slot_of: [limits.arg_count_max]?u8 = undefined,
    urls: [limits.url_count_max][]const u8 = undefined,
    cache_urls: [limits.url_count_max][:0]const u8 = undefined,
};

/// Fills `out` from a (non-pass-through) scan; false when the command must pass through (more
/// than candidates_max distinct candidates, or the arena is exhausted).
pub fn collectCandidates(tool: Tool, args: Args, scanned: *const Scan, server_base: []const u8, arena: std.mem.Allocator, out: *Candidates) bool {
    std.debug.assert(!scanned.passthrough);
    out.count = 0;
    const https_cache = std.ascii.startsWithIgnoreCase(server_base, "https:");
    if (if (https_cache) scanned.proto_denies_https else scanned.proto_denies_http) return true;
    for (scanned.occurrences[0..scanned.occurrence_count], 0..) |occurrence, k| {
        out.slot_of[k] = null;
        const url = args.get(occurrence.index)[occurrence.prefix_len..];
        const parts = candidateParts(tool, url, scanned.globoff) orelse continue;
        if (cacheUrlLen(server_base, parts) > limits.cache_url_bytes_max) continue;
        const existing: ?usize = for (out.urls[0..out.count], 0..) |seen, slot| {
            if (std.mem.eql(u8, seen, url)) break slot;
        } else null;
        if (existing) |slot| {
            out.slot_of[k] = @intCast(slot);
            continue;
        }
        if (out.count == limits.url_count_max) return false;
        out.urls[out.count] = url;
        out.cache_urls[out.count] = cacheUrl(arena, server_base, parts) catch return false;
        out.slot_of[k] = @intCast(out.count);
        out.count += 1;
    }
    return true;
}

/// Bytes of cacheUrl(server_base, parts), without building it.
pub fn cacheUrlLen(server_base: []const u8, parts: Parts) usize {
    return server_base.len + "/b/".len + token.encodedLen(parts.token_url.len) + 1 + parts.basename.len + parts.query.len;
}

pub fn cacheUrl(arena: std.mem.Allocator, server_base: []const u8, parts: Parts) ![:0]const u8 {
    const token_len = token.encodedLen(parts.token_url.len);
    const len = cacheUrlLen(server_base, parts);
    const buf = try arena.allocSentinel(u8, len, 0);
    var w: usize = 0;
    for ([_][]const u8{ server_base, "/b/" }) |piece| {
        @memcpy(buf[w .. w + piece.len], piece);
        w += piece.len;
    }
    _ = token.encode(buf[w .. w + token_len], parts.token_url);
    w += token_len;
    buf[w] = '/';
    w += 1;
    for ([_][]const u8{ parts.basename, parts.query }) |piece| {
        @memcpy(buf[w .. w + piece.len], piece);
        w += piece.len;
    }
    std.debug.assert(w == len);
    return buf;
}

/// README "Probe outcomes → final argv". Rewrites `argv` (the user's arguments, the kernel's own
/// pointer array, NULL-terminated after them) in place and returns the new count; arguments are
/// only replaced or removed, never added. Bundles are shortened in their own memory.
pub fn finish(
    tool: Tool,
    args: Args,
    argv: [*]?[*:0]const u8,
    scanned: *const Scan,
    candidates: *const Candidates,
    outcomes: []const Outcome,
    arena: std.mem.Allocator,
) usize {
    const count = args.ptrs.len;
    if (scanned.passthrough or candidates.count == 0) return count;
    // A redirected hit serves the final file: only right when the tool would follow the redirect.
    const follows = followsRedirects(scanned);
    var any_hit = false;
    var all_hit = true;
    for (0..scanned.occurrence_count) |k| {
        const hit = if (candidates.slot_of[k]) |slot| isHit(outcomes[slot], follows) else false;
        any_hit = any_hit or hit;
        all_hit = all_hit and hit;
    }
    if (!any_hit) return count;
    if (scanned.has_credentials and !all_hit) return count;
    // Build every replacement before touching argv, so running out of arena changes nothing.
    var replacements: [limits.arg_count_max]?[*:0]const u8 = undefined;
    @memset(replacements[0..count], null);
    for (scanned.occurrences[0..scanned.occurrence_count], 0..) |occurrence, k| {
        const slot = candidates.slot_of[k] orelse continue;
        if (!isHit(outcomes[slot], follows)) continue;
        const cache_url = candidates.cache_urls[slot];
        if (occurrence.prefix_len == 0) {
            replacements[occurrence.index] = cache_url.ptr;
        } else {
            const prefix = args.get(occurrence.index)[0..occurrence.prefix_len];
            const joined = arena.allocSentinel(u8, prefix.len + cache_url.len, 0) catch return count;
            @memcpy(joined[0..prefix.len], prefix);
            @memcpy(joined[prefix.len..], cache_url);
            replacements[occurrence.index] = joined.ptr;
        }
    }
    const table = tables.getPtrConst(tool);
    var kept: usize = 0;
    for (0..count) |i| {
        var element: ?[*:0]const u8 = replacements[i] orelse args.ptrs[i];
        if (scanned.drop_whole[i]) element = null;
        if (scanned.bundle_edit[i] and element != null) {
            const new_len = shortenBundle(table, @constCast(args.get(i)), scanned.bundle_tail[i]);
            if (new_len == 1) element = null;
        }
        if (element) |e| {
            argv[kept] = e;
            kept += 1;
        }
    }
    argv[kept] = null;
    return kept;
}

fn isHit(outcome: Outcome, follows_redirects: bool) bool {
    return outcome == .hit or (outcome == .hit_redirected and follows_redirects);
}

/// Removes credential letters from a short bundle in place (`-nsSu x` style): every flag letter
/// in credential_short, and the credential value letter at `tail` with its attached value.
/// Returns the new length (1 means only `-` is left: the element goes).
fn shortenBundle(table: *const Table, arg: []u8, tail: u32) usize {
    var w: usize = 1;
    var j: usize = 1;
    while (j < arg.len) : (j += 1) {
        const letter = arg[j];
        if (hasLetter(table.short_with_value, letter)) {
            if (j == tail) break;
            const rest = arg.len - j;
            std.mem.copyForwards(u8, arg[w .. w + rest], arg[j..]);
            w += rest;
            break;
        }
        if (hasLetter(table.credential_short, letter)) continue;
        arg[w] = letter;
        w += 1;
    }
    if (w < arg.len) arg[w] = 0;
    return w;
}

// ---------------------------------------------------------------------------------------------
// Tests: the README's rules on small cases. The differential test (test/zig-differential.test.ts)
// compares against the TypeScript planner on the corpus and on generated argv.

const testing = std.testing;

const TestPlan = struct {
    lens: [limits.arg_count_max]u32 = undefined,
    scanned: Scan = .{},
    candidates: Candidates = .{},
    storage: [64][256:0]u8 = undefined,
    argv: [65]?[*:0]const u8 = undefined,
    arena_buf: [64 * 1024]u8 = undefined,

    /// Plans `words` with every candidate given `outcome`; returns the final argv joined by " ".
    fn run(t: *TestPlan, tool: Tool, words: []const []const u8, outcome: Outcome, out: []u8) ![]const u8 {
        var ptrs: [64][*:0]const u8 = undefined;
        for (words, 0..) |word, i| {
            @memcpy(t.storage[i][0..word.len], word);
            t.storage[i][word.len] = 0;
            ptrs[i] = t.storage[i][0..word.len :0];
            t.argv[i] = ptrs[i];
        }
        t.argv[words.len] = null;
        var fba = std.heap.FixedBufferAllocator.init(&t.arena_buf);
        const args = measure(ptrs[0..words.len], &t.lens) orelse return error.TooBig;
        scan(tool, args, &t.scanned);
        var count = words.len;
        if (!t.scanned.passthrough and collectCandidates(tool, args, &t.scanned, "http://c:3000", fba.allocator(), &t.candidates)) {
            var outcomes: [limits.url_count_max]Outcome = undefined;
            @memset(outcomes[0..t.candidates.count], outcome);
            count = finish(tool, args, &t.argv, &t.scanned, &t.candidates, outcomes[0..t.candidates.count], fba.allocator());
        }
        var w: std.Io.Writer = .fixed(out);
        for (t.argv[0..count], 0..) |a, i| try w.print("{s}{s}", .{ if (i == 0) "" else " ", std.mem.span(a.?) });
        return w.buffered();
    }
};

fn expectPlan(tool: Tool, words: []const []const u8, outcome: Outcome, expected: []const u8) !void {
    const t = try testing.allocator.create(TestPlan);
    defer testing.allocator.destroy(t);
    var out: [4096]u8 = undefined;
    try testing.expectEqualStrings(expected, try t.run(tool, words, outcome, &out));
}

test "curl: option values are never urls, hits are rewritten" {
    try expectPlan(.curl, &.{ "-sSfLo", "out", "-x", "http://proxy:8080", "https://h/x.tgz" }, .hit, "-sSfLo out -x http://proxy:8080 http://c:3000/b/aHR0cHM6Ly9oL3gudGd6/x.tgz");
    try expectPlan(.curl, &.{ "-sSfLo", "out", "https://h/x.tgz" }, .miss, "-sSfLo out https://h/x.tgz");
    try expectPlan(.curl, &.{ "--url=https://h/x.tgz", "-O" }, .hit, "--url=http://c:3000/b/aHR0cHM6Ly9oL3gudGd6/x.tgz -O");
    try expectPlan(.curl, &.{ "--url", "https://h/x.tgz" }, .hit, "--url http://c:3000/b/aHR0cHM6Ly9oL3gudGd6/x.tgz");
    try expectPlan(.curl, &.{ "--", "https://h/x.tgz?a=1#frag" }, .hit, "-- http://c:3000/b/aHR0cHM6Ly9oL3gudGd6P2E9MQ/x.tgz?a=1");
}

test "curl: pass-through cases" {
    try expectPlan(.curl, &.{ "-d", "x", "https://h/x" }, .hit, "-d x https://h/x");
    try expectPlan(.curl, &.{ "-X", "POST", "https://h/x" }, .hit, "-X POST https://h/x");
    try expectPlan(.curl, &.{ "--bogus", "https://h/x" }, .hit, "--bogus https://h/x");
    try expectPlan(.curl, &.{ "-", "https://h/x" }, .hit, "- https://h/x");
    try expectPlan(.curl, &.{"https://h/[1-2].x"}, .hit, "https://h/[1-2].x");
    try expectPlan(.curl, &.{ "-g", "https://h/[1-2].x" }, .hit, "-g http://c:3000/b/aHR0cHM6Ly9oL1sxLTJdLng/[1-2].x");
    try expectPlan(.curl, &.{ "ftp://h/x", "https://u@h/x", "h/x" }, .hit, "ftp://h/x https://u@h/x h/x");
    try expectPlan(.curl, &.{"-o"}, .hit, "-o");
}

test "credentials: dropped on an all-hit, else untouched" {
    try expectPlan(.curl, &.{ "-nsSu", "me:pw", "-H", "Authorization: x", "-H", "X-A: 1", "https://h/x" }, .hit, "-sS -H X-A: 1 http://c:3000/b/aHR0cHM6Ly9oL3g/x");
    try expectPlan(.curl, &.{ "-sume:pw", "https://h/x" }, .hit, "-s http://c:3000/b/aHR0cHM6Ly9oL3g/x");
    try expectPlan(.curl, &.{ "-u", "me:pw", "https://h/x", "ftp://h/y" }, .hit, "-u me:pw https://h/x ftp://h/y");
    try expectPlan(.curl, &.{ "--user=me:pw", "--no-netrc", "https://h/x" }, .hit, "--no-netrc http://c:3000/b/aHR0cHM6Ly9oL3g/x");
    try expectPlan(.wget, &.{ "-e", "http_password = x", "--header=Cookie: a", "https://h/x" }, .hit, "http://c:3000/b/aHR0cHM6Ly9oL3g/x");
}

test "wget: abbreviations, -e and the lone dash" {
    try expectPlan(.wget, &.{ "--quiet", "-O", "-", "https://h/x" }, .hit, "--quiet -O - http://c:3000/b/aHR0cHM6Ly9oL3g/x");
    try expectPlan(.wget, &.{ "-", "https://h/x" }, .hit, "- http://c:3000/b/aHR0cHM6Ly9oL3g/x");
    try expectPlan(.wget, &.{ "--recursive", "https://h/x" }, .hit, "--recursive https://h/x");
    try expectPlan(.wget, &.{ "--recursive=off", "https://h/x" }, .hit, "--recursive=off http://c:3000/b/aHR0cHM6Ly9oL3g/x");
    try expectPlan(.wget, &.{ "-e", "robots=off", "https://h/x/" }, .hit, "-e robots=off http://c:3000/b/aHR0cHM6Ly9oL3gv/");
    try expectPlan(.wget, &.{ "-e", "recursive = on", "https://h/x" }, .hit, "-e recursive = on https://h/x");
}

test "argv that is not utf-8 passes through" {
    var lens: [limits.arg_count_max]u32 = undefined;
    try testing.expect(measure(&.{ "-s", "http://h/\xff.bin" }, &lens) == null);
    try testing.expect(measure(&.{"http://h/\xed\xa0\x80"}, &lens) == null); // an encoded surrogate
    try testing.expect(measure(&.{"http://h/\xc0\xaf"}, &lens) == null); // overlong
    try testing.expect(measure(&.{ "-s", "http://h/é\u{FFFD}.bin" }, &lens) != null);
}

test "candidateParts splits as the README says" {
    const p = candidateParts(.curl, "HTTPS://H/a/b%20c.tgz?x=1&y#f", false).?;
    try testing.expectEqualStrings("HTTPS://H/a/b%20c.tgz?x=1&y", p.token_url);
    try testing.expectEqualStrings("b%20c.tgz", p.basename);
    try testing.expectEqualStrings("?x=1&y", p.query);
    try testing.expectEqualStrings("", candidateParts(.curl, "http://h", false).?.basename);
    try testing.expect(candidateParts(.curl, "http://h/..", false) == null);
    try testing.expect(candidateParts(.curl, "http:///x", false) == null);
    try testing.expect(candidateParts(.curl, "http://h/a\\b", false) == null);
}

test "serverBase accepts host, host:port and urls" {
    var buf: [256]u8 = undefined;
    try testing.expectEqualStrings("http://cache:3000", serverBase("cache", &buf).?);
    try testing.expectEqualStrings("http://cache:8080", serverBase("cache:8080/", &buf).?);
    try testing.expectEqualStrings("http://[::1]:3000/p", serverBase("[::1]/p//", &buf).?);
    try testing.expectEqualStrings("HTTPS://cache", serverBase("HTTPS://cache/", &buf).?);
}

test "a cache URL beyond cache_url_bytes_max is not a candidate (it would never fit the request head)" {
    const t = try testing.allocator.create(TestPlan);
    defer testing.allocator.destroy(t);
    const base = "http://c:3000";
    const prefix = "http://h/f.bin?";
    const Url = struct {
        fn make(allocator: std.mem.Allocator, query_len: usize) ![:0]u8 {
            const u = try allocator.allocSentinel(u8, prefix.len + query_len, 0);
            @memcpy(u[0..prefix.len], prefix);
            @memset(u[prefix.len..], 'q');
            return u;
        }
    };
    // The shortest query whose cache URL (token = 4/3 of the URL, then name and query) is too long.
    var over: usize = 1;
    while (true) : (over += 1) {
        const u = try Url.make(testing.allocator, over);
        defer testing.allocator.free(u);
        if (cacheUrlLen(base, candidateParts(.curl, u, false).?) > limits.cache_url_bytes_max) break;
    }
    try testing.expect(prefix.len + over < limits.url_bytes_max); // the new limit is the one that bites
    for ([_]usize{ over - 1, over }) |query_len| {
        const u = try Url.make(testing.allocator, query_len);
        defer testing.allocator.free(u);
        const ptrs = [_][*:0]const u8{u.ptr};
        const args = measure(&ptrs, &t.lens).?;
        scan(.curl, args, &t.scanned);
        var fba = std.heap.FixedBufferAllocator.init(&t.arena_buf);
        try testing.expect(collectCandidates(.curl, args, &t.scanned, base, fba.allocator(), &t.candidates));
        try testing.expectEqual(@as(usize, if (query_len == over) 0 else 1), t.candidates.count);
        if (query_len < over) try testing.expect(t.candidates.cache_urls[0].len <= limits.cache_url_bytes_max);
    }
}

test "isIpv6Address accepts RFC 4291 text forms only" {
    for ([_][]const u8{ "::1", "::", "1:2:3:4:5:6:7:8", "fe80::1", "1::", "::ffff:1.2.3.4", "64:ff9b::192.0.2.33", "ABCD:ef01::0:1" }) |ok| {
        try testing.expect(isIpv6Address(ok));
    }
    for ([_][]const u8{ "", ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "::1%25eth0", "1-3", "::1.2.3", "::01.2.3.4", "::256.1.1.1", "1.2.3.4::", ":1::", "1:2:3:4:5:6:7::8" }) |bad| {
        try testing.expect(!isIpv6Address(bad));
    }
}

test "curl: a bracketed IPv6 host is not a glob; other brackets still are" {
    try testing.expectEqualStrings("x", candidateParts(.curl, "http://[::1]:8080/x", false).?.basename);
    try testing.expect(candidateParts(.curl, "http://[::1]:8080/[1-2].x", false) == null);
    try testing.expect(candidateParts(.curl, "http://[1-2]/x", false) == null);
    try testing.expect(candidateParts(.curl, "http://h/[::1]/x", false) == null);
    try testing.expect(candidateParts(.curl, "http://[fe80::1%25eth0]/x", false) == null);
}

test "protoAllows reads curl's --proto lists" {
    const cases = [_]struct { []const u8, bool, bool }{
        .{ "=https", false, true },      .{ "=http,https", true, true }, .{ "-all,+http", true, false },
        .{ "-http", false, true },       .{ "all", true, true },         .{ "=ftp", false, false },
        .{ "=ftp,+https", false, true }, .{ "+-=https", false, true },   .{ "-=+http", true, true },
        .{ "HTTPS", false, false },      .{ "http,", false, false },     .{ "=https ,http", false, false },
    };
    for (cases) |c| {
        try testing.expectEqual(c[1], protoAllows(c[0], "http"));
        try testing.expectEqual(c[2], protoAllows(c[0], "https"));
    }
}

test "curl --proto that forbids the cache's scheme: nothing is probed" {
    try expectPlan(.curl, &.{ "--proto", "=https", "-sSf", "https://h/x" }, .hit, "--proto =https -sSf https://h/x");
    try expectPlan(.curl, &.{ "--proto==http,https", "https://h/x" }, .hit, "--proto==http,https http://c:3000/b/aHR0cHM6Ly9oL3g/x");
    try expectPlan(.curl, &.{ "--proto", "-all,+http", "--proto", "=https", "https://h/x" }, .hit, "--proto -all,+http --proto =https https://h/x");
}

test "redirected hits: used only when the tool follows redirects itself" {
    const rewritten = "http://c:3000/b/aHR0cHM6Ly9oL3g/x";
    try expectPlan(.curl, &.{ "-sSO", "https://h/x" }, .hit_redirected, "-sSO https://h/x");
    try expectPlan(.curl, &.{ "-sSO", "https://h/x" }, .hit, "-sSO " ++ rewritten);
    try expectPlan(.curl, &.{ "-fsSLO", "https://h/x" }, .hit_redirected, "-fsSLO " ++ rewritten);
    try expectPlan(.curl, &.{ "--location-trusted", "https://h/x" }, .hit_redirected, "--location-trusted " ++ rewritten);
    try expectPlan(.curl, &.{ "-L", "--no-location", "https://h/x" }, .hit_redirected, "-L --no-location https://h/x");
    try expectPlan(.curl, &.{ "-L", "--max-redirs", "0", "https://h/x" }, .hit_redirected, "-L --max-redirs 0 https://h/x");
    try expectPlan(.curl, &.{ "-L", "--max-redirs=-1", "https://h/x" }, .hit_redirected, "-L --max-redirs=-1 " ++ rewritten);
    try expectPlan(.wget, &.{"https://h/x"}, .hit_redirected, rewritten);
    try expectPlan(.wget, &.{ "--max-redirect=0", "https://h/x" }, .hit_redirected, "--max-redirect=0 https://h/x");
    try expectPlan(.wget, &.{ "--max-red", "00", "https://h/x" }, .hit_redirected, "--max-red 00 https://h/x");
    try expectPlan(.wget, &.{ "-e", " Max-Redirect = 0 ", "https://h/x" }, .hit_redirected, "-e  Max-Redirect = 0  https://h/x");
    try expectPlan(.wget, &.{ "-e", "max_redirect=0", "-e", "max_redirect=2", "https://h/x" }, .hit_redirected, "-e max_redirect=0 -e max_redirect=2 " ++ rewritten);
}

test "redirectLimitAllows: only a plain non-zero integer" {
    for ([_][]const u8{ "1", "20", "-1", "010" }) |yes| try testing.expect(redirectLimitAllows(yes));
    for ([_][]const u8{ "0", "000", "-0", "", " 1", "1x", "+1", "off", "-" }) |no| try testing.expect(!redirectLimitAllows(no));
}
