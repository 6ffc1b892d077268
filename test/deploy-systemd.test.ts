// deploy/withcache.service: `systemd-analyze verify` must print nothing at all about it, its
// ExecStart must use only flags the binary has, and the hardening must stay in place.
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readHelp, requireBinary, ROOT, run } from "./deploy-support.ts";

const UNIT_PATH = path.join(ROOT, "deploy/withcache.service");
const unitText = fs.readFileSync(UNIT_PATH, "utf8");
const INSTALLED_BIN = "/usr/local/bin/withcache";

/** section → key → values (a key may repeat, e.g. SystemCallFilter=). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const sec = /^\[(\w+)\]$/.exec(line);
    if (sec) {
      current = new Map();
      sections.set(sec[1]!, current);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !current) throw new Error(`withcache.service: cannot parse line: ${line}`);
    current.set(kv[1]!, [...(current.get(kv[1]!) ?? []), kv[2]!]);
  }
  return sections;
}

const unit = parseUnit(unitText);
const service = unit.get("Service")!;
const one = (key: string) => {
  const values = service.get(key) ?? [];
  expect(values, `[Service] ${key}=`).toHaveLength(1);
  return values[0]!;
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "withcache-deploy-systemd-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** verify needs ExecStart's binary to exist: point the copy at the real compiled binary. */
async function verify(text: string): Promise<{ code: number | null; output: string }> {
  const dir = fs.mkdtempSync(path.join(tmp, "unit-"));
  const file = path.join(dir, "withcache.service");
  fs.writeFileSync(file, text);
  const res = await run(["systemd-analyze", "verify", "--man=no", file], { cwd: dir, timeoutMs: 30_000 });
  return { code: res.code, output: (res.stdout + res.stderr).trim() };
}

async function withRealBinary(text: string): Promise<string> {
  const bin = (await requireBinary());
  const lines = text.split("\n");
  const exec = lines.filter((l) => l.startsWith(`ExecStart=${INSTALLED_BIN} `));
  expect(exec, "one ExecStart of the installed binary").toHaveLength(1);
  return lines.map((l) => (l.startsWith("ExecStart=") ? l.replace(INSTALLED_BIN, bin) : l)).join("\n");
}

describe("deploy/withcache.service", () => {
  test("systemd-analyze verify prints nothing about the unit", async () => {
    const res = await verify(await withRealBinary(unitText));
    expect(res.output).toBe("");
    expect(res.code).toBe(0);
  });

  test("verify catches a broken unit (the check above can fail)", async () => {
    const typo = await verify((await withRealBinary(unitText)).replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"));
    expect(typo.output).toContain("Unknown key 'NoNewPrivilege'");
    const missing = await verify(unitText.replace(INSTALLED_BIN, path.join(tmp, "no-such-binary")));
    expect(missing.code).not.toBe(0);
  });

  test("systemd-analyze security rates the unit's exposure at most 2.0 (\"OK\")", async () => {
    const file = path.join(fs.mkdtempSync(path.join(tmp, "security-")), "withcache.service");
    fs.writeFileSync(file, await withRealBinary(unitText));
    const res = await run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", file], { timeoutMs: 30_000 });
    const level = /Overall exposure level for withcache\.service: ([\d.]+)/.exec(res.stdout)?.[1];
    expect(Number(level)).toBeLessThanOrEqual(2.0);
    expect(res.code).toBe(0);
  });

  test("ExecStart serves from the state directory with flags the binary has", async () => {
    const exec = one("ExecStart").split(/\s+/);
    expect(exec.slice(0, 2)).toEqual([INSTALLED_BIN, "serve"]);
    const dataDir = exec[exec.indexOf("--data-dir") + 1];
    expect(dataDir).toBe("${STATE_DIRECTORY}");
    const help = await readHelp(["serve"]);
    for (const arg of exec.filter((a) => a.startsWith("--"))) expect(help.longFlags, `serve ${arg}`).toContain(arg);
  });

  test("dynamic user, state dir, env file for the password, restart, hardening", () => {
    const expected: Record<string, string> = {
      DynamicUser: "yes",
      StateDirectory: "withcache",
      EnvironmentFile: "-/etc/withcache/withcache.env",
      Restart: "on-failure",
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      CapabilityBoundingSet: "",
      RestrictNamespaces: "yes",
      RestrictSUIDSGID: "yes",
      LockPersonality: "yes",
      SystemCallArchitectures: "native",
    };
    for (const [key, value] of Object.entries(expected)) expect(`${key}=${one(key)}`).toBe(`${key}=${value}`);
    expect(service.get("SystemCallFilter")).toContain("@system-service");
    expect(one("RestrictAddressFamilies").split(" ")).toEqual(expect.arrayContaining(["AF_INET", "AF_INET6"]));
    // JavaScriptCore's JIT needs writable+executable pages; this setting would kill the server.
    expect(service.has("MemoryDenyWriteExecute")).toBe(false);
    expect(unit.get("Install")?.get("WantedBy")).toEqual(["multi-user.target"]);
  });

  test("the env file example sets the admin password and nothing unknown", () => {
    const example = fs.readFileSync(path.join(ROOT, "deploy/withcache.env.example"), "utf8");
    const keys = example
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("#"))
      .map((l) => /^([A-Z_][A-Z0-9_]*)=/.exec(l)?.[1]);
    expect(keys).toContain("WITHCACHE_ADMIN_PASSWORD");
    for (const k of keys) expect(k, "every line is KEY=value").toMatch(/^WITHCACHE_/);
  });
});
