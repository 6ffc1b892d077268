import { describe, expect, test } from "bun:test";
import { defaultServeConfig, loadServeConfig } from "./schema.ts";

describe("loadServeConfig", () => {
  test("defaults", () => {
    const r = loadServeConfig({ flags: {}, env: {} });
    expect(r).toMatchObject({ ok: true, config: defaultServeConfig() });
    if (r.ok) expect(r.sources.port).toBe("default");
  });
  test("flags beat env beat file beat defaults, each remembering its source", () => {
    const r = loadServeConfig({
      flags: { port: "4000" },
      env: { WITHCACHE_PORT: "5000", WITHCACHE_WORKERS: "3", WITHCACHE_ADMIN_PASSWORD: "pw" },
      file: { path: "c.json", text: JSON.stringify({ port: 6000, workers: 7, dataDir: "/srv/wc", curate: true }) },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toMatchObject({ port: 4000, workers: 3, dataDir: "/srv/wc", curate: true, adminPassword: "pw", host: "0.0.0.0" });
    expect(r.sources).toMatchObject({ port: "flag", workers: "env", dataDir: "file", host: "default", adminPassword: "env" });
  });
  test("human units and lists", () => {
    const r = loadServeConfig({ flags: { fillBackoffMs: "250ms", allowHosts: ["a.com", "*.b.org"], maxArtifactBytes: "2GiB" }, env: {} });
    expect(r).toMatchObject({ ok: true, config: { fillBackoffMs: 250, allowHosts: ["a.com", "*.b.org"], maxArtifactBytes: 2 * 1024 ** 3 } });
  });
  test("invalid values name their source", () => {
    expect(loadServeConfig({ flags: { workers: "x" }, env: {} })).toEqual({ ok: false, message: '--workers: "x" is not a positive integer' });
    expect(loadServeConfig({ flags: { workers: "0" }, env: {} })).toEqual({ ok: false, message: '--workers: "0" is not a positive integer' });
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_PORT: "99999" } })).toEqual({ ok: false, message: 'WITHCACHE_PORT: "99999" is not a port; expected 0-65535' });
    expect(loadServeConfig({ flags: { allowHosts: ["a/b"] }, env: {} })).toMatchObject({ ok: false, message: expect.stringContaining("--allow-host") });
    expect(loadServeConfig({ flags: { drainTimeoutMs: "soon" }, env: {} })).toMatchObject({ ok: false, message: '--drain-timeout: "soon" is not a duration; expected e.g. 30s' });
    // A bare number: seconds or milliseconds? Refused, except 0.
    expect(loadServeConfig({ flags: { fillBackoffMs: "5" }, env: {} })).toMatchObject({ ok: false, message: '--fill-backoff: "5" has no unit; expected e.g. 5s or 500ms' });
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_MAX_STALE: "0" } })).toMatchObject({ ok: true, config: { maxStaleMs: 0 } });
  });
  test("disk guard and cache cap: flag, env and file, with their errors", () => {
    expect(loadServeConfig({ flags: {}, env: {} })).toMatchObject({ ok: true, config: { minFreeDisk: "auto", maxCacheBytes: 0 } });
    expect(loadServeConfig({ flags: { minFreeDisk: "10%", maxCacheBytes: "500GiB" }, env: {} })).toMatchObject({ ok: true, config: { minFreeDisk: "10%", maxCacheBytes: 500 * 1024 ** 3 } });
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_MIN_FREE_DISK: "2GiB", WITHCACHE_MAX_CACHE_SIZE: "1TiB" } })).toMatchObject({
      ok: true,
      config: { minFreeDisk: "2GiB", maxCacheBytes: 1024 ** 4 },
      sources: { minFreeDisk: "env", maxCacheBytes: "env" },
    });
    expect(loadServeConfig({ flags: {}, env: {}, file: { path: "c.json", text: '{"minFreeDisk": 1000, "maxCacheBytes": "1GiB"}' } })).toMatchObject({ ok: true, config: { minFreeDisk: "1000", maxCacheBytes: 1024 ** 3 } });
    expect(loadServeConfig({ flags: { minFreeDisk: "half" }, env: {} })).toEqual({ ok: false, message: '--min-free-disk: "half" is not a size or a percentage; expected e.g. 2GiB or 5%' });
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_MAX_CACHE_SIZE: "big" } })).toEqual({ ok: false, message: 'WITHCACHE_MAX_CACHE_SIZE: "big" is not a size; expected e.g. 20GiB' });
  });
  test("config file: unknown keys and secrets are refused", () => {
    expect(loadServeConfig({ flags: {}, env: {}, file: { path: "c.json", text: '{"prot": 1}' } })).toEqual({ ok: false, message: 'c.json: unknown key "prot"'.replace(/^/, "--config: ") });
    expect(loadServeConfig({ flags: {}, env: {}, file: { path: "c.json", text: '{"adminPassword": "x"}' } }).ok).toBe(false);
    expect(loadServeConfig({ flags: {}, env: {}, file: { path: "c.json", text: "{" } })).toEqual({ ok: false, message: "--config: c.json is not valid json" });
  });
  test("a boolean that is none of the accepted spellings lists them (as the README does)", () => {
    const expected = "is not a boolean; expected 1/true/yes/on or 0/false/no/off";
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_CURATE: "maybe" } })).toEqual({ ok: false, message: `WITHCACHE_CURATE: "maybe" ${expected}` });
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_TRUST_PROXY: "enabled" } })).toEqual({ ok: false, message: `WITHCACHE_TRUST_PROXY: "enabled" ${expected}` });
    expect(loadServeConfig({ flags: {}, env: {}, file: { path: "c.json", text: '{"keepQuery": "sometimes"}' } })).toEqual({ ok: false, message: `c.json: key "keepQuery": "sometimes" ${expected}` });
    for (const [text, value] of [["YES", true], ["On", true], ["1", true], ["off", false], ["No", false], ["0", false]] as const) {
      expect(loadServeConfig({ flags: {}, env: { WITHCACHE_CURATE: text } })).toMatchObject({ ok: true, config: { curate: value } });
    }
  });
  test("--ui-host: repeatable flag, comma-separated env, config key uiHosts; bad names named", () => {
    expect(loadServeConfig({ flags: {}, env: {} })).toMatchObject({ ok: true, config: { uiHosts: [] } });
    expect(loadServeConfig({ flags: { uiHosts: ["cache.lab.example", "*.ops.example"] }, env: { WITHCACHE_UI_HOSTS: "x.example" } })).toMatchObject({
      ok: true,
      config: { uiHosts: ["cache.lab.example", "*.ops.example"] },
      sources: { uiHosts: "flag" },
    });
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_UI_HOSTS: "a.example, b.example" } })).toMatchObject({ ok: true, config: { uiHosts: ["a.example", "b.example"] } });
    expect(loadServeConfig({ flags: {}, env: {}, file: { path: "c.json", text: '{"uiHosts": ["cache.lab.example"]}' } })).toMatchObject({ ok: true, config: { uiHosts: ["cache.lab.example"] } });
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_UI_HOSTS: "http://cache/" } })).toEqual({
      ok: false,
      message: 'WITHCACHE_UI_HOSTS: "http://cache/" is not a host pattern; expected e.g. example.com or *.example.com',
    });
  });
  test("--metrics: a choice of on, token or off from flag, env or file; default on; anything else lists the choices", () => {
    expect(loadServeConfig({ flags: {}, env: {} })).toMatchObject({ ok: true, config: { metrics: "on" }, sources: { metrics: "default" } });
    expect(loadServeConfig({ flags: { metrics: "token" }, env: { WITHCACHE_METRICS: "off" } })).toMatchObject({ ok: true, config: { metrics: "token" }, sources: { metrics: "flag" } });
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_METRICS: " OFF " } })).toMatchObject({ ok: true, config: { metrics: "off" }, sources: { metrics: "env" } });
    expect(loadServeConfig({ flags: {}, env: {}, file: { path: "c.json", text: '{"metrics": "token"}' } })).toMatchObject({ ok: true, config: { metrics: "token" } });
    expect(loadServeConfig({ flags: { metrics: "yes" }, env: {} })).toEqual({ ok: false, message: '--metrics: "yes" is not one of on, token, off' });
    expect(loadServeConfig({ flags: {}, env: { WITHCACHE_METRICS: "basic" } })).toEqual({ ok: false, message: 'WITHCACHE_METRICS: "basic" is not one of on, token, off' });
    expect(loadServeConfig({ flags: {}, env: {}, file: { path: "c.json", text: '{"metrics": true}' } })).toEqual({ ok: false, message: 'c.json: key "metrics": "true" is not one of on, token, off' });
  });
  test("blank secrets count as unset", () => {
    const r = loadServeConfig({ flags: {}, env: { WITHCACHE_SESSION_SECRET: "" } });
    expect(r.ok && r.config.sessionSecret).toBeUndefined();
  });
});
