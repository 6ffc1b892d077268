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
    for (const doc of ["192.0.2.10", "198.51.100.7", "203.0.113.5", "192.88.99.1", "198.18.0.1", "255.255.255.255"]) expect(classifyAddress(doc)).toBe("reserved");
    expect(classifyAddress("203.0.114.5")).toBe("public");
  });
  test("literal hosts in every spelling the URL parser accepts are judged by the address they mean", () => {
    // WHATWG URL turns decimal, octal, hex, short and trailing-dot IPv4 into dotted quads; the
    // private-address check sees that normalised hostname.
    for (const spelled of ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "127.0.0.1.", "%31%32%37.0.0.1"]) {
      expect(classifyAddress(new URL(`http://${spelled}/`).hostname)).toBe("loopback");
    }
    expect(classifyAddress(new URL("http://0/").hostname)).toBe("unspecified");
    expect(classifyAddress(new URL("http://[::ffff:127.0.0.1]/").hostname)).toBe("loopback");
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
    expect(classifyAddress("::ffff:0:7f00:1")).toBe("loopback"); // IPv4-translated
    expect(classifyAddress("::ffff:0:a00:1")).toBe("private");
    expect(classifyAddress("64:ff9b:1::a00:1")).toBe("private"); // local-use NAT64
    expect(classifyAddress("64:ff9b:1:7f00:1::")).toBe("private");
    expect(classifyAddress("2001:0:4136:e378:8000:63bf:3fff:fdd2")).toBe("reserved"); // Teredo
    expect(classifyAddress("2001:db8::1")).toBe("reserved");
    expect(classifyAddress("3fff::1")).toBe("reserved");
    expect(classifyAddress("100::1")).toBe("reserved");
    expect(classifyAddress("2001:4860:4860::8888")).toBe("public");
    expect(classifyAddress("2001:200::1")).toBe("public");
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
  test("trailing dots and ipv6 brackets", () => {
    expect(hostAllowed("download.nvidia.com.", ["download.nvidia.com"])).toBe(true);
    expect(hostAllowed("x.example.org.", ["*.example.org"])).toBe(true);
    expect(hostAllowed("fd00::5", ["[fd00::5]"])).toBe(true);
    expect(hostAllowed("[fd00::5]", ["fd00::5"])).toBe(true);
    expect(hostAllowed("fd00::6", ["[fd00::5]"])).toBe(false);
  });
  test("pattern validation", () => {
    expect(validHostPattern("*.example.org")).toBe(true);
    expect(validHostPattern("a.b")).toBe(true);
    expect(validHostPattern("a/b")).toBe(false);
    expect(validHostPattern("*x.com")).toBe(false);
  });
});
