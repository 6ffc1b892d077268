import { describe, expect, test } from "bun:test";
import { classifyAddress, hostAllowed, isPublicAddress, validHostPattern } from "./address.ts";

describe("classifyAddress", () => {
  test("ipv4", () => {
    expect(classifyAddress("127.0.0.1")).toBe("loopback");
    expect(classifyAddress("10.1.2.3")).toBe("private");
    expect(classifyAddress("172.16.0.1")).toBe("private");
    expect(classifyAddress("172.32.0.1")).toBe("public");
    expect(classifyAddress("192.168.1.1")).toBe("private");
    expect(classifyAddress("169.254.169.254")).toBe("link-local");
    expect(classifyAddress("0.0.0.0")).toBe("unspecified");
    expect(classifyAddress("8.8.8.8")).toBe("public");
    expect(classifyAddress("100.64.0.1")).toBe("private");
  });
  test("ipv6 incl. mapped and embedded ipv4", () => {
    expect(classifyAddress("::1")).toBe("loopback");
    expect(classifyAddress("::")).toBe("unspecified");
    expect(classifyAddress("fe80::1%eth0")).toBe("link-local");
    expect(classifyAddress("fd00::1")).toBe("unique-local");
    expect(classifyAddress("fc12:3456::1")).toBe("unique-local");
    expect(classifyAddress("::ffff:127.0.0.1")).toBe("loopback");
    expect(classifyAddress("::ffff:7f00:1")).toBe("loopback");
    expect(classifyAddress("::ffff:169.254.169.254")).toBe("link-local");
    expect(classifyAddress("[::ffff:10.0.0.1]")).toBe("private");
    expect(classifyAddress("64:ff9b::a9fe:a9fe")).toBe("link-local");
    expect(classifyAddress("2002:7f00:1::")).toBe("loopback");
    expect(classifyAddress("2606:4700::1111")).toBe("public");
    expect(classifyAddress("ff02::1")).toBe("multicast");
  });
  test("garbage is not public", () => {
    expect(classifyAddress("not-an-ip")).toBe("invalid");
    expect(isPublicAddress("1:2:3")).toBe(false);
    expect(isPublicAddress("1.2.3.4.5")).toBe(false);
  });
});

describe("hostAllowed", () => {
  test("empty list allows all", () => expect(hostAllowed("x.com", [])).toBe(true));
  test("exact and wildcard", () => {
    const p = ["download.nvidia.com", "*.example.org"];
    expect(hostAllowed("DOWNLOAD.nvidia.com", p)).toBe(true);
    expect(hostAllowed("evil-download.nvidia.com", p)).toBe(false);
    expect(hostAllowed("a.b.example.org", p)).toBe(true);
    expect(hostAllowed("example.org", p)).toBe(false);
    expect(hostAllowed("badexample.org", p)).toBe(false);
  });
  test("pattern validation", () => {
    expect(validHostPattern("*.example.org")).toBe(true);
    expect(validHostPattern("a.b")).toBe(true);
    expect(validHostPattern("a/b")).toBe(false);
    expect(validHostPattern("*x.com")).toBe(false);
  });
});
