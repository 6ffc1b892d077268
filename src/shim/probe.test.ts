import { describe, expect, test } from "bun:test";
import { headOutcome, toolProbeOutcome } from "./probe.ts";

describe("probe outcomes (the Zig shim's probe.zig and tool_probe.zig test the same cases)", () => {
  test("a raw head: status line, then the redirect header of a complete head", () => {
    expect(headOutcome("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")).toBe("hit");
    expect(headOutcome("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n")).toBe("unreachable"); // cut off
    expect(headOutcome("HTTP/1.1 200 OK\r\nA: b\r\nX-Withcache-Redirected:  1 \r\n\r\n")).toBe("hit-redirected");
    expect(headOutcome("HTTP/1.1 200 OK\r\nx-withcache-redirected: 0\r\n\r\n")).toBe("hit");
    expect(headOutcome("HTTP/1.1 200 OK\r\nx-withcache-redirected-not: 1\r\n\r\n")).toBe("hit");
    expect(headOutcome("HTTP/1.1 404 Not Found\r\n")).toBe("miss");
    expect(headOutcome("HTTP/1.1 500 Internal\r\n")).toBe("unreachable");
    expect(headOutcome("HTTP/2 200\r\n\r\n")).toBe("hit");
    expect(headOutcome("HTTP/1.1 200 OK\n\n")).toBe("unreachable");
  });

  test("curl -w and wget -S output", () => {
    expect(toolProbeOutcome("curl", "200")).toBe("hit");
    expect(toolProbeOutcome("curl", "200 ")).toBe("hit");
    expect(toolProbeOutcome("curl", "200 1")).toBe("hit-redirected");
    expect(toolProbeOutcome("curl", "200 %header{x-withcache-redirected}")).toBe("hit-redirected");
    expect(toolProbeOutcome("curl", "404 ")).toBe("miss");
    expect(toolProbeOutcome("curl", "2001")).toBe("unreachable");
    expect(toolProbeOutcome("curl", "000 ")).toBe("unreachable");
    expect(toolProbeOutcome("wget", "  HTTP/1.1 200 OK\n  content-length: 1\n  X-Withcache-Redirected: 1\n")).toBe("hit-redirected");
    expect(toolProbeOutcome("wget", "  HTTP/1.1 200 OK\n  x-withcache-redirected: 2\n")).toBe("hit");
    expect(toolProbeOutcome("wget", "  HTTP/1.1 404 Not Found\n")).toBe("miss");
  });
});
