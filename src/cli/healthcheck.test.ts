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

  test("rejects bad urls and durations with one-line messages", () => {
    expect(() => parseHealthcheckOptions({ url: "nope", timeout: "5s" })).toThrow(/^--url: "nope" is not a url/);
    expect(() => parseHealthcheckOptions({ url: "ftp://h/", timeout: "5s" })).toThrow(/is not http or https/);
    expect(() => parseHealthcheckOptions({ url: "http://h/", timeout: "soon" })).toThrow(/^--timeout: "soon" is not a duration/);
    expect(() => parseHealthcheckOptions({ url: "http://h/", timeout: "0s" })).toThrow(/^--timeout: "0s" is out of range/);
    expect(() => parseHealthcheckOptions({ url: "http://h/", timeout: "301s" })).toThrow(/--timeout/);
  });
});
