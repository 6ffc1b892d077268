import { describe, expect, test } from "bun:test";
import { parseHealthcheckOptions } from "./healthcheck.ts";

describe("parseHealthcheckOptions", () => {
  test("appends /healthz to a base url, keeping a path prefix", () => {
    expect(parseHealthcheckOptions({ url: "http://127.0.0.1:3000", timeout: "5s" })).toEqual({
      healthzUrl: "http://127.0.0.1:3000/healthz",
      timeoutMs: 5000,
    });
    expect(parseHealthcheckOptions({ url: "https://h/withcache/", timeout: "250ms" }).healthzUrl).toBe(
      "https://h/withcache/healthz",
    );
    expect(parseHealthcheckOptions({ url: "http://h:1/healthz?x=1", timeout: "1s" }).healthzUrl).toBe(
      "http://h:1/healthz",
    );
  });

  test("takes host and host:port like WITHCACHE_SERVER (port 3000 when none)", () => {
    expect(parseHealthcheckOptions({ url: "localhost:3400", timeout: "5s" }).healthzUrl).toBe("http://localhost:3400/healthz");
    expect(parseHealthcheckOptions({ url: "cache.lab", timeout: "5s" }).healthzUrl).toBe("http://cache.lab:3000/healthz");
    expect(parseHealthcheckOptions({ url: "127.0.0.1:3400/prefix", timeout: "5s" }).healthzUrl).toBe("http://127.0.0.1:3400/prefix/healthz");
  });

  test("a timeout without a unit is refused rather than read as milliseconds", () => {
    expect(() => parseHealthcheckOptions({ url: "http://h/", timeout: "5" })).toThrow(/^--timeout: "5" has no unit; expected e\.g\. 5s or 500ms$/);
    expect(parseHealthcheckOptions({ url: "http://h/", timeout: "5s" }).timeoutMs).toBe(5000);
  });

  test("rejects bad urls and durations with one-line messages", () => {
    expect(() => parseHealthcheckOptions({ url: "not a url", timeout: "5s" })).toThrow(/^--url: "not a url" is not a url/);
    expect(() => parseHealthcheckOptions({ url: "http://h:99999/", timeout: "5s" })).toThrow(/^--url: "http:\/\/h:99999\/" is not a url/);
    expect(() => parseHealthcheckOptions({ url: "ftp://h/", timeout: "5s" })).toThrow(/is not http or https/);
    expect(() => parseHealthcheckOptions({ url: "http://h/", timeout: "soon" })).toThrow(/^--timeout: "soon" is not a duration/);
    expect(() => parseHealthcheckOptions({ url: "http://h/", timeout: "0s" })).toThrow(/^--timeout: "0s" is out of range/);
    expect(() => parseHealthcheckOptions({ url: "http://h/", timeout: "301s" })).toThrow(/--timeout/);
  });
});
