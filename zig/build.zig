// Builds the native shim. `zig build` installs the host binary at zig-out/bin/withcache-shim
// (the tests use it); `zig build cross` installs both release targets as
// zig-out/bin/withcache-shim-<arch>-linux-musl; `zig build test` runs the unit tests.
// The version and the curl/wget option tables come from files outside zig/ (../package.json,
// ../src/core/tool-options.json) so the TypeScript and native shims cannot drift apart.
const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{ .default_target = .{ .abi = .musl } });
    const optimize = b.standardOptimizeOption(.{});

    const options = b.addOptions();
    options.addOption([]const u8, "version", readVersion(b));

    const exe = b.addExecutable(.{
        .name = "withcache-shim",
        .root_module = shimModule(b, target, optimize, options),
    });
    b.installArtifact(exe);

    const cross = b.step("cross", "Build the release binaries for x86_64 and aarch64 linux-musl");
    for ([_]std.Target.Cpu.Arch{ .x86_64, .aarch64 }) |arch| {
        const cross_target = b.resolveTargetQuery(.{ .cpu_arch = arch, .os_tag = .linux, .abi = .musl });
        const cross_exe = b.addExecutable(.{
            .name = b.fmt("withcache-shim-{t}-linux-musl", .{arch}),
            .root_module = shimModule(b, cross_target, optimize, options),
        });
        cross.dependOn(&b.addInstallArtifact(cross_exe, .{}).step);
    }

    const unit_tests = b.addTest(.{ .root_module = shimModule(b, target, optimize, options) });
    const test_step = b.step("test", "Run the unit tests");
    test_step.dependOn(&b.addRunArtifact(unit_tests).step);
}

fn shimModule(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.OptimizeMode,
    options: *std.Build.Step.Options,
) *std.Build.Module {
    const module = b.createModule(.{
        .root_source_file = b.path("src/main.zig"),
        .target = target,
        .optimize = optimize,
        // Small and static: no libc, no unwind tables, symbols stripped in release builds.
        .link_libc = false,
        .single_threaded = true,
        .strip = optimize != .Debug,
        .unwind_tables = .none,
    });
    module.addOptions("build_options", options);
    return module;
}

/// The version lives only in package.json; stamp it into the binary.
fn readVersion(b: *std.Build) []const u8 {
    const text = b.build_root.handle.readFileAlloc(b.graph.io, "../package.json", b.allocator, .limited(1 << 20)) catch |err|
        std.debug.panic("../package.json: cannot read ({t})", .{err});
    const Package = struct { version: []const u8 };
    const parsed = std.json.parseFromSlice(Package, b.allocator, text, .{ .ignore_unknown_fields = true }) catch |err|
        std.debug.panic("../package.json: no \"version\" string ({t})", .{err});
    return parsed.value.version;
}
