import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSessionSecret } from "./auth-secret.ts";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "withcache-secret-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("session secret", () => {
  test("env wins when not blank", () => {
    const dir = tempDir();
    expect(loadSessionSecret({ envValue: "  from-env ", dataDir: dir })).toEqual({ secret: "from-env", source: "env", path: null });
  });
  test("blank env falls back to a generated secret persisted with mode 0600, reused next time", () => {
    const dir = tempDir();
    const first = loadSessionSecret({ envValue: "   ", dataDir: dir });
    expect(first.source).toBe("generated");
    expect(first.secret).toMatch(/^[0-9a-f]{64}$/);
    const path = join(dir, "session-secret");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8").trim()).toBe(first.secret);
    expect(loadSessionSecret({ envValue: undefined, dataDir: dir })).toEqual({ secret: first.secret, source: "file", path });
  });
  test("loose permissions on an existing file are tightened", () => {
    const dir = tempDir();
    const path = join(dir, "session-secret");
    writeFileSync(path, "abc\n");
    chmodSync(path, 0o644);
    expect(loadSessionSecret({ envValue: "", dataDir: dir }).secret).toBe("abc");
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
  test("an unwritable data dir is an error naming the path", () => {
    expect(() => loadSessionSecret({ envValue: "", dataDir: "/nonexistent-withcache-dir" })).toThrow(/nonexistent-withcache-dir/);
  });
});
