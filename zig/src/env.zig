// Environment lookups over the raw envp block the kernel gave us: no allocation, no copies.
const std = @import("std");

pub const Block = [:null]const ?[*:0]const u8;

/// The value of `name`, or null when unset. Like getenv(3), the first definition wins.
pub fn get(block: Block, name: []const u8) ?[]const u8 {
    for (block) |entry_z| {
        const entry = std.mem.span(entry_z.?);
        if (entry.len > name.len and entry[name.len] == '=' and std.mem.eql(u8, entry[0..name.len], name)) {
            return entry[name.len + 1 ..];
        }
    }
    return null;
}

test "get finds exact names only" {
    const block: Block = &.{ "PATHX=no", "PATH=/bin:/usr/bin", "EMPTY=", "PATH=second" };
    try std.testing.expectEqualStrings("/bin:/usr/bin", get(block, "PATH").?);
    try std.testing.expectEqualStrings("", get(block, "EMPTY").?);
    try std.testing.expect(get(block, "PAT") == null);
    try std.testing.expect(get(block, "MISSING") == null);
}
