import { describe, expect, test } from "bun:test";
import { cacheKey, parseOriginUrl } from "./cache-key.ts";

function key(raw: string, keepQuery = false): string {
  const parsed = parseOriginUrl(raw);
  if (!parsed.ok) throw new Error(parsed.message);
  return cacheKey(parsed.url, { keepQuery });
}

describe("cacheKey", () => {
  test("lower-cases scheme and host, keeps path case", () => {
    expect(key("HTTPS://Example.COM/A/B.run")).toBe("https://example.com/A/B.run");
  });
  test("default ports are the same key as no port; others are kept", () => {
    expect(key("https://h:443/x")).toBe(key("https://h/x"));
    expect(key("http://h:80/x")).toBe(key("http://h/x"));
    expect(key("http://h:8080/x")).toBe("http://h:8080/x");
    expect(key("https://h:80/x")).toBe("https://h:80/x");
  });
  test("drops fragment and, by default, query", () => {
    expect(key("https://h/x.tgz?token=abc#frag")).toBe("https://h/x.tgz");
    expect(key("https://h/x.tgz?token=abc#frag", true)).toBe("https://h/x.tgz?token=abc");
  });
  test("an empty path is /", () => {
    expect(key("https://h")).toBe("https://h/");
  });
});

describe("parseOriginUrl", () => {
  test("refuses non-http schemes with a reason", () => {
    for (const raw of ["file:///etc/passwd", "ftp://h/x", "data:text/plain,hi", "gopher://h/"]) {
      const r = parseOriginUrl(raw);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.status).toBe(400);
        expect(r.message).toContain("not allowed");
      }
    }
  });
  test("refuses garbage and oversize urls", () => {
    expect(parseOriginUrl("not a url")).toMatchObject({ ok: false, status: 400 });
    expect(parseOriginUrl("https://h/" + "a".repeat(9000))).toMatchObject({ ok: false, status: 414 });
  });
  test("refuses urls carrying credentials (they would be stored and shown)", () => {
    for (const raw of ["https://user:pw@h/x", "https://user@h/x", "http://:pw@h/x"]) {
      expect(parseOriginUrl(raw)).toEqual({ ok: false, status: 400, message: "url carries credentials (user:password@); they are never stored, so such a url is not cached" });
    }
  });
});
