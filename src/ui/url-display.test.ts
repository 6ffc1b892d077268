import { describe, expect, test } from "bun:test";
import { splitUrlForDisplay, URL_TAIL_CHARS_MAX } from "./url-display.ts";

describe("splitUrlForDisplay", () => {
  test("host and directories in the head, the file name in the tail; together the whole URL", () => {
    const url = "https://very-long-subdomain.downloads.vendor.example.com/releases/2026/stable/tool-1.2.3.tar.gz";
    const parts = splitUrlForDisplay(url);
    expect(parts).toEqual({ head: "https://very-long-subdomain.downloads.vendor.example.com/releases/2026/stable", tail: "/tool-1.2.3.tar.gz" });
    expect(parts.head + parts.tail).toBe(url);
  });

  test("a query stays with the file name; a slash inside the query is not a path separator", () => {
    expect(splitUrlForDisplay("https://h/dir/f.tgz?sig=a/b")).toEqual({ head: "https://h/dir", tail: "/f.tgz?sig=a/b" });
  });

  test("a file name longer than the limit keeps its end (the extension)", () => {
    const name = `${"n".repeat(100)}-x86_64.tar.gz`;
    const url = `https://h.example/d/${name}`;
    const parts = splitUrlForDisplay(url);
    expect(parts.tail.length).toBe(URL_TAIL_CHARS_MAX);
    expect(parts.tail.endsWith("-x86_64.tar.gz")).toBe(true);
    expect(parts.head + parts.tail).toBe(url);
    expect(splitUrlForDisplay(url, { tailCharsMax: 10 }).tail).toBe("6_64.tar.gz".slice(-10));
  });

  test("no path, or only '/': nothing to keep apart, all head", () => {
    expect(splitUrlForDisplay("https://h.example")).toEqual({ head: "https://h.example", tail: "" });
    expect(splitUrlForDisplay("https://h.example/")).toEqual({ head: "https://h.example/", tail: "" });
    expect(splitUrlForDisplay("https://h.example/f")).toEqual({ head: "https://h.example", tail: "/f" });
  });

  test("text that is not a URL still splits into two parts that join to it", () => {
    for (const text of ["", "x", "no scheme/but/slashes", `https://x/<script>alert(1)</script>"'><img src=x onerror=alert(2)>`]) {
      const parts = splitUrlForDisplay(text);
      expect(parts.head + parts.tail).toBe(text);
    }
  });

  test("a surrogate pair is never cut in half", () => {
    const url = `https://h/d/${"😀".repeat(30)}`;
    const parts = splitUrlForDisplay(url, { tailCharsMax: 7 });
    expect(parts.head + parts.tail).toBe(url);
    expect(parts.tail).toBe("😀".repeat(4));
  });
});
