// The /b/<token>/<name> wire token: URL-safe base64 (RFC 4648 §5) of the origin URL, no padding.
// Same as encodeToken in src/core/token.ts.
const std = @import("std");

const codec = std.base64.url_safe_no_pad.Encoder;

pub fn encodedLen(source_len: usize) usize {
    return codec.calcSize(source_len);
}

/// Encodes `url` into `dest`, which must hold encodedLen(url.len) bytes.
pub fn encode(dest: []u8, url: []const u8) []const u8 {
    std.debug.assert(dest.len >= encodedLen(url.len));
    return codec.encode(dest, url);
}

test "encode matches the TypeScript token" {
    var buf: [64]u8 = undefined;
    try std.testing.expectEqualStrings("aHR0cHM6Ly9oL3gudGd6", encode(&buf, "https://h/x.tgz"));
    try std.testing.expectEqualStrings("Pz8-", encode(&buf, "??>"));
    try std.testing.expectEqualStrings("_w", encode(&buf, "\xff"));
    try std.testing.expectEqualStrings("", encode(&buf, ""));
}
