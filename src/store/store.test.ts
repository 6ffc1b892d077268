import { afterEach, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { currentBootId } from "./boot-id.ts";
import { openCacheStore, type CacheStore } from "./store.ts";

const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);
let dir = "";
let store: CacheStore | null = null;

function fresh(): CacheStore {
  dir = mkdtempSync(join(tmpdir(), "withcache-store-"));
  store = openCacheStore(dir);
  return store;
}

async function putBlob(s: CacheStore, sha: string, bytes: string): Promise<void> {
  const t = await s.blobs.openTemp(`t-${sha.slice(0, 4)}`, { truncate: true });
  await t.write(new TextEncoder().encode(bytes));
  await t.sync();
  await t.close();
  await s.blobs.commitTemp(t.name, sha, async () => null);
}

/** A temp file holding `bytes`, ready for commitTemp. */
async function writeTemp(s: CacheStore, name: string, bytes: string): Promise<string> {
  const t = await s.blobs.openTemp(name, { truncate: true });
  await t.write(new TextEncoder().encode(bytes));
  await t.sync();
  await t.close();
  return t.name;
}

/** A promise and the function that resolves it (a row commit held open by the test). */
function gate(): { opened: Promise<void>; open(): void } {
  let open = (): void => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** Another process holding `dir` through a real store, until `stop()` closes its stdin. */
type Holder = { pid: number; proc: Subprocess<"pipe", "pipe", "pipe">; stop(): Promise<void> };
const holders: Holder[] = [];
const STORE_TS = join(import.meta.dir, "store.ts");

async function spawnHolder(dataDir: string): Promise<Holder> {
  const script = `const { openCacheStore } = await import(${JSON.stringify(STORE_TS)});
    const s = openCacheStore(process.env.HOLD_DIR);
    Bun.gc(true); // bun:sqlite closes an unreachable Database on GC, which would drop the lock
    process.stdout.write("ready\\n");
    for await (const _ of Bun.stdin.stream()) {}
    await s.close();`;
  const proc = Bun.spawn([process.execPath, "-e", script], { env: { ...process.env, HOLD_DIR: dataDir }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const holder: Holder = {
    pid: proc.pid,
    proc,
    async stop() {
      proc.stdin.end();
      expect(await proc.exited).toBe(0);
    },
  };
  holders.push(holder);
  const reader = proc.stdout.getReader();
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  let out = "";
  while (!out.includes("ready\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  clearTimeout(deadline);
  reader.releaseLock();
  if (!out.includes("ready\n")) throw new Error(`lock holder did not start: ${await new Response(proc.stderr).text()}`);
  return holder;
}

/** Open the store on `dataDir` in a short-lived child process: its exit code and stderr. */
async function openInChild(dataDir: string, options: { asUid?: number } = {}): Promise<{ exitCode: number; stderr: string }> {
  const script = `const { openCacheStore } = await import(${JSON.stringify(STORE_TS)});
    await openCacheStore(process.env.HOLD_DIR).close();`;
  const asUser = options.asUid === undefined ? [] : ["setpriv", `--reuid=${options.asUid}`, `--regid=${options.asUid}`, "--clear-groups"];
  const proc = Bun.spawn([...asUser, process.execPath, "-e", script], { env: { ...process.env, HOLD_DIR: dataDir }, stdout: "ignore", stderr: "pipe", timeout: 10_000 });
  const stderr = await new Response(proc.stderr).text();
  return { exitCode: await proc.exited, stderr };
}

afterEach(async () => {
  for (const h of holders.splice(0)) {
    h.proc.kill("SIGKILL");
    await h.proc.exited;
  }
  await store?.close();
  store = null;
  rmSync(dir, { recursive: true, force: true });
});

describe("cache store", () => {
  test("revoked sessions survive a reopen until they expire; expired ones are pruned", async () => {
    const s = fresh();
    await s.metadata.revokeSession({ id: "old-session-id-0001", expiresAtMs: 1_000, nowMs: 10 });
    await s.metadata.revokeSession({ id: "live-session-id-002", expiresAtMs: 5_000, nowMs: 20 });
    await s.close();
    const again = openCacheStore(dir);
    store = again;
    expect(again.metadata.isSessionRevoked("live-session-id-002", 999)).toBe(true);
    expect(again.metadata.isSessionRevoked("old-session-id-0001", 999)).toBe(true);
    expect(again.metadata.isSessionRevoked("old-session-id-0001", 1_000)).toBe(false);
    expect(again.metadata.isSessionRevoked("never-revoked-00003", 0)).toBe(false);
    await again.metadata.revokeSession({ id: "another-session-004", expiresAtMs: 9_000, nowMs: 2_000 });
    const db = (again.metadata as unknown as { db: { query(sql: string): { all(): unknown[] } } }).db;
    expect(db.query("SELECT id FROM revoked_sessions ORDER BY id").all()).toEqual([{ id: "another-session-004" }, { id: "live-session-id-002" }]);
  });
  test("misses carry over into the artifact on commit", async () => {
    const s = fresh();
    s.metadata.recordMiss({ key: "https://h/x", url: "https://h/x?t=1", nowMs: 10 });
    s.metadata.recordMiss({ key: "https://h/x", url: "https://h/x?t=2", nowMs: 20 });
    expect(s.metadata.getMiss("https://h/x")).toMatchObject({ count: 2, firstSeenMs: 10, lastSeenMs: 20, url: "https://h/x?t=1" });
    await s.metadata.commitArtifact({ key: "https://h/x", url: "https://h/x?t=1", sha256: SHA_A, sizeBytes: 3, contentType: "text/plain", contentDisposition: null, fetchedAtMs: 30 });
    expect(s.metadata.getMiss("https://h/x")).toBeNull();
    expect(s.metadata.getArtifact("https://h/x")).toMatchObject({ misses: 2, hits: 0, lastHitMs: null });
    s.metadata.recordHit("https://h/x", 40);
    expect(s.metadata.getArtifact("https://h/x")).toMatchObject({ hits: 1, lastHitMs: 40 });
  });

  test("delete frees a blob only when no other key shares it", async () => {
    const s = fresh();
    await putBlob(s, SHA_A, "abc");
    for (const key of ["https://h/1", "https://h/2"]) {
      await s.metadata.commitArtifact({ key, url: key, sha256: SHA_A, sizeBytes: 3, contentType: "x", contentDisposition: null, fetchedAtMs: 1 });
    }
    expect(s.metadata.totals()).toMatchObject({ artifactCount: 2, bytes: 3, logicalBytes: 6 });
    expect(await s.deleteArtifact("https://h/1")).toEqual({ deleted: true, freedBytes: 0 });
    expect(s.blobs.sizeOf(SHA_A)).toBe(3);
    expect(await s.deleteArtifact("https://h/2")).toEqual({ deleted: true, freedBytes: 3 });
    expect(s.blobs.sizeOf(SHA_A)).toBeNull();
    expect(await s.deleteArtifact("https://h/2")).toEqual({ deleted: false, freedBytes: 0 });
  });

  test("a delete that lands while a fill of the same bytes is committing keeps the blob for that fill", async () => {
    const s = fresh();
    await putBlob(s, SHA_A, "abc");
    const row = (key: string) => ({ key, url: key, sha256: SHA_A, sizeBytes: 3, contentType: "x", contentDisposition: null, fetchedAtMs: 1 });
    await s.metadata.commitArtifact(row("https://h/old"));
    const temp = await writeTemp(s, "t-new", "abc");
    // The row delete runs first; before deleteArtifact gets to the unlink, a fill of the same
    // bytes renames its temp into place and starts its row commit (held open here).
    const deleting = s.deleteArtifact("https://h/old");
    const held = gate();
    const committing = s.blobs.commitTemp(temp, SHA_A, async () => {
      await held.opened;
      return s.metadata.commitArtifact(row("https://h/new"));
    });
    expect(await deleting).toEqual({ deleted: true, freedBytes: 0 });
    expect(s.blobs.sizeOf(SHA_A)).toBe(3);
    // The orphan sweep looks at rows too: none holds the blob yet, the commit in flight does.
    expect(await s.sweepOrphanBlobs()).toEqual({ blobs: 1, bytes: 3 });
    expect(s.blobs.sizeOf(SHA_A)).toBe(3);
    held.open();
    await committing;
    expect(s.metadata.getArtifact("https://h/new")).toMatchObject({ sha256: SHA_A });
    expect(s.blobs.sizeOf(SHA_A)).toBe(3);
    // Once the commit has settled, a delete frees the bytes again.
    expect(await s.deleteArtifact("https://h/new")).toEqual({ deleted: true, freedBytes: 3 });
    expect(s.blobs.sizeOf(SHA_A)).toBeNull();
  });

  test("a row commit that fails after a delete was held off takes the blob back (nothing leaks)", async () => {
    const s = fresh();
    const temp = await writeTemp(s, "t-fail", "abc");
    const held = gate();
    const committing = s.blobs.commitTemp(temp, SHA_A, async () => {
      await held.opened;
      throw new Error("disk I/O error");
    });
    s.blobs.delete(SHA_A);
    expect(s.blobs.sizeOf(SHA_A)).toBe(3);
    held.open();
    await expect(committing).rejects.toThrow("disk I/O error");
    expect(s.blobs.sizeOf(SHA_A)).toBeNull();
  });

  test("running totals (migration 10) match a scan of the rows through inserts, refills, shared blobs and deletes", async () => {
    const s = fresh();
    const scan = () => {
      const db = (s.metadata as unknown as { db: import("bun:sqlite").Database }).db;
      const a = db.query("SELECT count(*) AS n, coalesce(sum(size_bytes), 0) AS logical FROM artifacts").get() as { n: number; logical: number };
      const b = db.query("SELECT coalesce(sum(s), 0) AS bytes FROM (SELECT max(size_bytes) AS s FROM artifacts GROUP BY sha256)").get() as { bytes: number };
      return { artifactCount: a.n, bytes: b.bytes, logicalBytes: a.logical };
    };
    const commit = (key: string, sha256: string, sizeBytes: number) =>
      s.metadata.commitArtifact({ key, url: key, sha256, sizeBytes, contentType: "x", contentDisposition: null, fetchedAtMs: 1 });
    expect(s.metadata.storedTotals()).toEqual({ artifactCount: 0, bytes: 0, logicalBytes: 0 });
    await commit("https://h/1", SHA_A, 3);
    await commit("https://h/2", SHA_A, 3); // shares the blob: counted once on disk
    await commit("https://h/3", SHA_B, 10);
    expect(s.metadata.storedTotals()).toEqual({ artifactCount: 3, bytes: 13, logicalBytes: 16 });
    await commit("https://h/1", SHA_A, 3); // a refill with the same bytes changes nothing
    expect(s.metadata.storedTotals()).toEqual(scan());
    await commit("https://h/2", SHA_B, 10); // new bytes: A is still held by /1, B now by /2 and /3
    expect(s.metadata.storedTotals()).toEqual({ artifactCount: 3, bytes: 13, logicalBytes: 23 });
    await commit("https://h/1", "c".repeat(64), 5); // A's last holder moves away: A's bytes go
    expect(s.metadata.storedTotals()).toEqual({ artifactCount: 3, bytes: 15, logicalBytes: 25 });
    expect(s.metadata.storedTotals()).toEqual(scan());
    await s.deleteArtifact("https://h/3");
    expect(s.metadata.storedTotals()).toEqual({ artifactCount: 2, bytes: 15, logicalBytes: 15 });
    await s.deleteArtifact("https://h/2");
    await s.deleteArtifact("https://h/1");
    expect(s.metadata.storedTotals()).toEqual({ artifactCount: 0, bytes: 0, logicalBytes: 0 });
    expect(s.metadata.totals()).toMatchObject(scan());
  });

  test("orphan blobs (no artifact row) are swept; referenced ones stay", async () => {
    const s = fresh();
    await putBlob(s, SHA_A, "abc");
    await putBlob(s, SHA_B, "orphan");
    await s.metadata.commitArtifact({ key: "https://h/a", url: "https://h/a", sha256: SHA_A, sizeBytes: 3, contentType: "x", contentDisposition: null, fetchedAtMs: 1 });
    expect((await s.blobs.list()).sort()).toEqual([SHA_A, SHA_B]);
    expect(await s.sweepOrphanBlobs()).toEqual({ blobs: 1, bytes: 6 });
    expect(await s.blobs.list()).toEqual([SHA_A]);
  });

  test("list, filter and sort artifacts", async () => {
    const s = fresh();
    await s.metadata.commitArtifact({ key: "https://h/big", url: "https://h/big", sha256: SHA_A, sizeBytes: 100, contentType: "x", contentDisposition: null, fetchedAtMs: 1 });
    await s.metadata.commitArtifact({ key: "https://h/small_%", url: "https://h/small_%", sha256: SHA_B, sizeBytes: 1, contentType: "x", contentDisposition: null, fetchedAtMs: 2 });
    s.metadata.recordHit("https://h/small_%", 5);
    expect(s.metadata.listArtifacts({ sort: "size" }).map((a) => a.sizeBytes)).toEqual([100, 1]);
    expect(s.metadata.listArtifacts({ sort: "hits" })[0]!.key).toBe("https://h/small_%");
    expect(s.metadata.listArtifacts({ filter: "_%" }).map((a) => a.key)).toEqual(["https://h/small_%"]);
    expect(s.metadata.listArtifacts({ filter: "BIG" }).length).toBe(1);
  });

  test("one active job per key; claim; requeue; clear finished", async () => {
    const s = fresh();
    const first = await s.metadata.insertJob({ key: "k", url: "https://h/k", source: "auto", nowMs: 1 });
    expect(first.existing).toBe(false);
    const j = first.job;
    expect(j).toMatchObject({ key: "k", url: "https://h/k", state: "queued", createdAtMs: 1 });
    // A second insert of the key answers the active job (the unique index's conflict), not an error.
    expect(await s.metadata.insertJob({ key: "k", url: "https://h/k?x", source: "operator", nowMs: 2 })).toEqual({ job: j, existing: true });
    const claimed = await s.metadata.claimNextJob(5);
    expect(claimed).toMatchObject({ id: j.id, state: "running", attempts: 1, startedAtMs: 5 });
    expect(await s.metadata.insertJob({ key: "k", url: "https://h/k", source: "auto", nowMs: 6 })).toEqual({ job: claimed!, existing: true });
    expect(s.metadata.listJobs()).toHaveLength(1);
    expect(await s.metadata.claimNextJob(5)).toBeNull();
    expect(await s.metadata.requeueRunningJobs()).toBe(1);
    expect(s.metadata.getJob(j.id)).toMatchObject({ state: "queued" });
    await s.metadata.updateJob(j.id, { state: "failed", error: "origin answered 404", finishedAtMs: 9 });
    expect(s.metadata.activeJobForKey("k")).toBeNull();
    // Finished: the key takes a new job.
    const next = await s.metadata.insertJob({ key: "k", url: "https://h/k", source: "auto", nowMs: 10 });
    expect(next.existing).toBe(false);
    expect(next.job.id).not.toBe(j.id);
    expect(await s.metadata.clearFinishedJobs()).toBe(1);
  });

  test("sweep removes stray temp files, keeps named ones; data survives reopen", async () => {
    const s = fresh();
    writeFileSync(join(dir, "tmp", "stray"), "x");
    writeFileSync(join(dir, "tmp", "fill-1.part"), "x");
    expect(s.blobs.sweepTemp(new Set(["fill-1.part"]))).toEqual(["stray"]);
    expect(existsSync(join(dir, "tmp", "fill-1.part"))).toBe(true);
    s.metadata.recordMiss({ key: "k", url: "u", nowMs: 1 });
    await s.close();
    store = openCacheStore(dir);
    expect(store.metadata.getMiss("k")).toMatchObject({ count: 1 });
  });

  test("one store per data dir: a second store in this process or another process is refused, naming the holder's pid", async () => {
    const s = fresh();
    expect(() => openCacheStore(dir)).toThrow(`--data-dir: ${dir} is already in use by this process`);
    // Through a symlink the in-process guard does not see the same path: SQLite refuses, and
    // closing its second connection must not drop the first one's lock (POSIX close semantics).
    symlinkSync(dir, `${dir}-link`);
    try {
      expect(() => openCacheStore(`${dir}-link`)).toThrow(`--data-dir: ${dir}-link is already in use by this process`);
    } finally {
      rmSync(`${dir}-link`);
    }
    Bun.gc(true); // the lock's connection stays reachable from the store
    const refused = await openInChild(dir);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(`--data-dir: ${dir} is in use by another withcache (pid ${process.pid})`);
    await s.close();
    store = null;
    expect(await openInChild(dir)).toEqual({ exitCode: 0, stderr: "" });
    const holder = await spawnHolder(dir);
    expect(() => openCacheStore(dir)).toThrow(`--data-dir: ${dir} is in use by another withcache (pid ${holder.pid})`);
    // Without the holder's `lock` file the refusal stands; only the pid is unknown.
    rmSync(join(dir, "lock"));
    expect(() => openCacheStore(dir)).toThrow(`--data-dir: ${dir} is in use by another withcache (${join(dir, "lock")} is unreadable, so its pid is unknown)`);
    await holder.stop();
    store = openCacheStore(dir);
    expect(readFileSync(join(dir, "lock"), "utf8")).toBe(`${process.pid}${currentBootId() ? ` ${currentBootId()}` : ""}\n`);
    await store.close();
    store = null;
    expect(existsSync(join(dir, "lock"))).toBe(false);
    expect(existsSync(join(dir, "lock.db"))).toBe(true);
  });

  test("a lock file nobody holds is taken whatever pid it names (dead, alive, this boot or an earlier one)", async () => {
    const s = fresh();
    await s.close();
    store = null;
    const boot = currentBootId();
    for (const text of ["999999999\n", "1\n", `1 ${boot ?? "x"}\n`, "1 00000000-0000-0000-0000-000000000000\n", "garbage"]) {
      writeFileSync(join(dir, "lock"), text);
      const again = openCacheStore(dir);
      expect(readFileSync(join(dir, "lock"), "utf8")).toBe(`${process.pid}${boot ? ` ${boot}` : ""}\n`);
      await again.close();
    }
  });

  test.skipIf(process.getuid?.() !== 0 || Bun.which("setpriv") === null)("a lock.db another user owns is refused, not shared (sqlite would open it read-only and take a shared lock)", async () => {
    dir = mkdtempSync(join(tmpdir(), "withcache-store-"));
    await openCacheStore(dir).close(); // lock.db now belongs to root, mode 0644
    chmodSync(dir, 0o777);
    const refused = await openInChild(dir, { asUid: 65534 });
    expect(refused.stderr).toContain(`--data-dir: cannot write ${join(dir, "lock.db")}: permission denied`);
    expect(refused.exitCode).not.toBe(0);
  });

  test("a live holder keeps the dir even when its lock file is overwritten (what racing starters leave); kill -9 frees it at once", async () => {
    dir = mkdtempSync(join(tmpdir(), "withcache-store-"));
    const holder = await spawnHolder(dir);
    writeFileSync(join(dir, "lock"), "999999999\n"); // a crashed owner's pid, as a lost race leaves it
    expect(() => openCacheStore(dir)).toThrow(`--data-dir: ${dir} is in use by another withcache (${join(dir, "lock")} names no live process, so its pid is unknown)`);
    expect(readFileSync(join(dir, "lock"), "utf8")).toBe("999999999\n");
    holder.proc.kill("SIGKILL");
    expect(await holder.proc.exited).not.toBe(0);
    store = openCacheStore(dir);
    expect(readFileSync(join(dir, "lock"), "utf8")).toStartWith(`${process.pid}`);
  });
});

describe("a data dir that cannot be created", () => {
  test("under /proc, below a dangling symlink, or over a file: one line saying why and what to do", () => {
    dir = mkdtempSync(join(tmpdir(), "withcache-store-"));
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    symlinkSync(join(dir, "nowhere"), join(dir, "dangling"));
    const enoent = "no such file or directory (a symlink on the way points nowhere, or the filesystem takes no directories, as under /proc); choose a directory on a disk";
    expect(() => openCacheStore("/proc/withcache-nope")).toThrow(`--data-dir: cannot create /proc/withcache-nope: ${enoent}`);
    expect(() => openCacheStore(join(dir, "dangling", "data"))).toThrow(`--data-dir: cannot create ${join(dir, "dangling", "data")}: ${enoent}`);
    expect(() => openCacheStore(file)).toThrow(`--data-dir: cannot create ${file}: it exists but is not a directory (or is a symlink to nothing); choose a directory or a path to create`);
  });
});
