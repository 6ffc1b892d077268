// String helpers that reproduce JavaScript's semantics on UTF-8 bytes where the TypeScript
// planner uses them (String.prototype.trim, toLowerCase compared against ASCII names), so both
// planners agree byte for byte on odd input.
const std = @import("std");

/// Multi-byte UTF-8 sequences of the characters JavaScript's trim() removes besides ASCII
/// whitespace: NBSP, BOM, the Zs space separators, LINE and PARAGRAPH SEPARATOR.
const js_wide_spaces = [_][]const u8{
    "\u{00A0}", "\u{FEFF}", "\u{1680}", "\u{2000}", "\u{2001}", "\u{2002}", "\u{2003}", "\u{2004}",
    "\u{2005}", "\u{2006}", "\u{2007}", "\u{2008}", "\u{2009}", "\u{200A}", "\u{202F}", "\u{205F}",
    "\u{3000}", "\u{2028}", "\u{2029}",
};

fn isAsciiJsSpace(c: u8) bool {
    return c == ' ' or (c >= 0x09 and c <= 0x0d);
}

/// JavaScript's String.prototype.trim on UTF-8 bytes.
pub fn jsTrim(s: []const u8) []const u8 {
    var start: usize = 0;
    var end: usize = s.len;
    outer: while (start < end) {
        if (isAsciiJsSpace(s[start])) {
            start += 1;
            continue;
        }
        for (js_wide_spaces) |space| if (std.mem.startsWith(u8, s[start..end], space)) {
            start += space.len;
            continue :outer;
        };
        break;
    }
    outer: while (end > start) {
        if (isAsciiJsSpace(s[end - 1])) {
            end -= 1;
            continue;
        }
        for (js_wide_spaces) |space| if (std.mem.endsWith(u8, s[start..end], space)) {
            end -= space.len;
            continue :outer;
        };
        break;
    }
    return s[start..end];
}

/// KELVIN SIGN: the one non-ASCII character whose JavaScript toLowerCase() is ASCII ("k").
const kelvin = "\u{212A}";

/// Lower-cases `s` as JavaScript would into `out`, when the result is pure ASCII (the only case
/// in which it can equal one of our ASCII option names); null otherwise or when it does not fit.
pub fn jsLowerAscii(s: []const u8, out: []u8) ?[]const u8 {
    var i: usize = 0;
    var len: usize = 0;
    while (i < s.len) {
        if (len == out.len) return null;
        if (s[i] < 0x80) {
            out[len] = std.ascii.toLower(s[i]);
            i += 1;
        } else if (std.mem.startsWith(u8, s[i..], kelvin)) {
            out[len] = 'k';
            i += kelvin.len;
        } else return null;
        len += 1;
    }
    return out[0..len];
}

/// s.toLowerCase() === target, for an ASCII lower-case target.
pub fn jsLowerEql(s: []const u8, target: []const u8) bool {
    var buf: [64]u8 = undefined;
    if (s.len > buf.len * kelvin.len) return false;
    const lower = jsLowerAscii(s, &buf) orelse return false;
    return std.mem.eql(u8, lower, target);
}

pub fn contains(list: []const []const u8, name: []const u8) bool {
    for (list) |item| if (std.mem.eql(u8, item, name)) return true;
    return false;
}

test "jsTrim matches JavaScript" {
    try std.testing.expectEqualStrings("a b", jsTrim(" \t\n\x0b\x0ca b\r "));
    try std.testing.expectEqualStrings("x", jsTrim("\u{00A0}\u{FEFF}x\u{3000}\u{2029}"));
    try std.testing.expectEqualStrings("\u{200B}x", jsTrim("\u{200B}x")); // ZERO WIDTH SPACE is not trimmed
    try std.testing.expectEqualStrings("", jsTrim(" \u{2028} "));
    try std.testing.expectEqualStrings("\x1cx", jsTrim("\x1cx"));
}

test "jsLowerEql folds ASCII and the Kelvin sign only" {
    try std.testing.expect(jsLowerEql("CooKie", "cookie"));
    try std.testing.expect(jsLowerEql("coo\u{212A}ie", "cookie"));
    try std.testing.expect(!jsLowerEql("co\u{00D6}kie", "cookie"));
    try std.testing.expect(jsLowerEql("OFF", "off"));
    try std.testing.expect(!jsLowerEql("offf", "off"));
}
