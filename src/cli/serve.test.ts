import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FIELDS, type ConfigKey, type ConfigSource } from "../config/schema.ts";
import { buildProgram } from "./program.ts";
import { listenFailure, readConfigFile } from "./serve.ts";

const MAIN = resolve(import.meta.dir, "../main.ts");
const dir = mkdtempSync(join(tmpdir(), "withcache-serve-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `withcache serve …` from the sources, bounded; it must fail before it listens. */
async function serveFails(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn([process.execPath, MAIN, "serve", "--data-dir", join(dir, "data"), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    timeout: 20_000,
  });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return { code, stderr };
}

const allDefault = Object.fromEntries(FIELDS.map((f) => [f.key, "default"])) as Record<ConfigKey, ConfigSource>;

describe("readConfigFile", () => {
  test("says why a config file cannot be read", () => {
    expect(() => readConfigFile(join(dir, "nope.json"))).toThrow(`--config: cannot read ${join(dir, "nope.json")}: no such file`);
    expect(() => readConfigFile(dir)).toThrow(`--config: cannot read ${dir}: it is a directory`);
  });
});

describe("listenFailure", () => {
  test("names the setting where it came from, and leaves other errors alone", () => {
    const denied = Object.assign(new Error("EACCES: permission denied, listen"), { code: "EACCES" });
    const at = { host: "0.0.0.0", port: 80, sources: { ...allDefault, port: "env" as const }, configPath: null };
    expect(listenFailure(denied, at)).toBe("WITHCACHE_PORT: port 80 on 0.0.0.0 needs privileges (permission denied); use a port from 1024 up, e.g. 3000");
    const fromFile = { ...at, sources: { ...allDefault, port: "file" as const }, configPath: "/etc/withcache.json" };
    expect(listenFailure(denied, fromFile)).toStartWith('/etc/withcache.json: key "port": port 80');
    expect(listenFailure(new Error("something else"), at)).toBeNull();
  });
});

describe("withcache serve start-up errors", () => {
  test("a host that is not this machine's is one line naming --host or WITHCACHE_HOST", async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never local, and a failed bind sends nothing anywhere.
    const flag = await serveFails(["--host", "192.0.2.1", "--port", "0"]);
    expect(flag).toEqual({ code: 1, stderr: 'withcache: error: --host: "192.0.2.1" is not an address of this machine; expected one of its addresses, 0.0.0.0 (all) or 127.0.0.1\n' });
    const env = await serveFails(["--port", "0"], { WITHCACHE_HOST: "192.0.2.1" });
    expect(env.stderr).toStartWith('withcache: error: WITHCACHE_HOST: "192.0.2.1" is not an address of this machine');
  });

  test("a missing --config file names the reason", async () => {
    const r = await serveFails(["--config", join(dir, "missing.json"), "--host", "127.0.0.1", "--port", "0"]);
    expect(r).toEqual({ code: 1, stderr: `withcache: error: --config: cannot read ${join(dir, "missing.json")}: no such file\n` });
  });
});

describe("withcache serve --help", () => {
  test("every option names its environment variable, and its default when it has one", () => {
    const serve = buildProgram().commands.find((c) => c.name() === "serve")!;
    const defaults: Record<string, string> = { "--max-redirects": "10", "--fill-attempts": "5", "--fill-backoff": "1s", "--max-cache-size": "0 = no limit", "--data-dir": "./data" };
    for (const field of FIELDS.filter((f) => f.flag !== null)) {
      const option = serve.options.find((o) => o.long === field.flag);
      expect(option, `${field.flag} is an option of serve`).toBeDefined();
      expect(option!.description, `${field.flag}'s help`).toMatch(new RegExp(`\\(env ${field.env}(, [^)]*)?\\)$`));
      const def = defaults[field.flag!];
      if (def !== undefined) expect(option!.description).toEndWith(`(env ${field.env}, default ${def})`);
    }
  });
  test("the printed help names every variable, the secrets included", async () => {
    const proc = Bun.spawn([process.execPath, MAIN, "serve", "--help"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    for (const field of FIELDS) expect(stdout, `serve --help names ${field.env}`).toContain(field.env);
  });
});
