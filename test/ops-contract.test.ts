// One OpsStore contract, run on both backends: the embedded SQLite store (a data dir) and the
// shared PostgreSQL store (a real PostgreSQL 15 on loopback, a fresh database per test). Tokens,
// events, traffic buckets and the bytes-saved ranking answer the same on both; where they differ,
// the test says why. Then what only sharing has: two replicas (two pools over one database) adding
// traffic at once, and a token made through one replica seen through the other.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tokenNameTaken } from "../src/core/api-token.ts";
import { HOUR_MS } from "../src/core/traffic.ts";
import { ApiTokens } from "../src/server/api-tokens.ts";
import { PgOpsStore } from "../src/store/pg-ops.ts";
import { migratePostgres } from "../src/store/pg-schema.ts";
import { openCacheStore } from "../src/store/store.ts";
import { TrafficRecorder } from "../src/store/traffic.ts";
import type { OpsStore } from "../src/store/types.ts";
import { startPostgres, type PostgresServer } from "./helpers/postgres.ts";

type Harness = {
  ops: OpsStore;
  /** An artifact row with this size and hit count (for topArtifactsBySaved). */
  seedArtifact(a: { key: string; sizeBytes: number; hits: number }): Promise<void>;
  close(): Promise<void>;
};
type Backend = {
  name: string;
  open(): Promise<Harness>;
  /** What the store itself throws for a taken token name (ApiTokens checks before it inserts). */
  duplicateName: (name: string) => string | RegExp;
};

let pg: PostgresServer | null = null;
let dbCounter = 0;
beforeAll(async () => {
  pg = await startPostgres();
}, 30_000);
afterAll(async () => {
  await pg?.stop();
});

async function freshDatabase(): Promise<string> {
  if (pg === null) throw new Error("postgres is not started");
  const name = `wc_ops_${++dbCounter}`;
  const admin = new SQL(pg.url, { max: 1 });
  // An en-US (ICU) collation, as most installs have, not the test cluster's C: byte-order results
  // must come from the store's queries, not from the database's locale.
  await admin.unsafe(`CREATE DATABASE ${name} LOCALE_PROVIDER icu ICU_LOCALE 'en-US' TEMPLATE template0`);
  await admin.close();
  const url = pg.url.replace(/\/postgres$/, `/${name}`);
  const sql = new SQL(url, { max: 1 });
  await migratePostgres(sql);
  await sql.close();
  return url;
}

/** One replica's view of a database: its own pool and store. */
function pgReplica(url: string): { sql: SQL; ops: PgOpsStore } {
  const sql = new SQL(url, { max: 2 });
  return { sql, ops: new PgOpsStore(sql) };
}

const sqlite: Backend = {
  name: "sqlite",
  async open() {
    const dir = mkdtempSync(join(tmpdir(), "withcache-ops-contract-"));
    const store = openCacheStore(dir);
    let n = 0;
    return {
      ops: store.ops,
      async seedArtifact(a) {
        n += 1;
        await store.metadata.commitArtifact({ key: a.key, url: a.key, sha256: n.toString(16).padStart(64, "0"), sizeBytes: a.sizeBytes, contentType: "application/octet-stream", contentDisposition: null, fetchedAtMs: 1 });
        for (let i = 0; i < a.hits; i += 1) store.metadata.recordHit(a.key, 2);
      },
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  // bun:sqlite's own text: the embedded store relays it (one process, so ApiTokens' check before
  // the insert is what an operator sees; sqlite-ops.ts does not map it).
  duplicateName: () => "UNIQUE constraint failed: api_tokens.name",
};

const postgres: Backend = {
  name: "postgres",
  async open() {
    const { sql, ops } = pgReplica(await freshDatabase());
    return {
      ops,
      async seedArtifact(a) {
        await sql`INSERT INTO artifacts (key, url, sha256, size_bytes, content_type, fetched_at_ms, hits) VALUES (${a.key}, ${a.key}, ${"0".repeat(64)}, ${a.sizeBytes}, 'application/octet-stream', 1, ${a.hits})`;
      },
      async close() {
        await sql.close();
      },
    };
  },
  // Two replicas can both pass ApiTokens' check and race to the insert: the loser gets the line
  // ApiTokens gives, not PostgreSQL's text.
  duplicateName: (name) => tokenNameTaken(name),
};

async function withStore(backend: Backend, body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await backend.open();
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

for (const backend of [sqlite, postgres]) {
  describe(`ops store contract (${backend.name})`, () => {
    test("tokens: created, found by sha256, touched, listed in byte order, revoked", () =>
      withStore(backend, async ({ ops }) => {
        const t = await ops.createToken({ name: "ci", scope: "read", tokenSha256: "a".repeat(64), hint: "wc_abcd…", nowMs: 1_765_000_000_123 });
        expect(t).toEqual({ id: t.id, name: "ci", scope: "read", hint: "wc_abcd…", createdAtMs: 1_765_000_000_123, lastUsedMs: null });
        expect(typeof t.id).toBe("number");
        expect(await ops.tokenBySha256("a".repeat(64))).toEqual(t);
        expect(await ops.tokenBySha256("b".repeat(64))).toBeNull();
        const z = await ops.createToken({ name: "Zeta", scope: "admin", tokenSha256: "c".repeat(64), hint: "wc_zzzz…", nowMs: 2 });
        // Byte order ("Z" < "a" < "c"), as SQLite sorts; a locale collation would put "Zeta" last.
        await ops.createToken({ name: "alpha", scope: "read", tokenSha256: "d".repeat(64), hint: "wc_aaaa…", nowMs: 3 });
        expect((await ops.listTokens()).map((r) => r.name)).toEqual(["Zeta", "alpha", "ci"]);
        await ops.touchTokens(new Map([[t.id, 5000], [z.id, 7000]]));
        await ops.touchTokens(new Map([[t.id, 4000]])); // an older use never moves it back
        await ops.touchTokens(new Map());
        const listed = new Map((await ops.listTokens()).map((r) => [r.name, r.lastUsedMs]));
        expect(Object.fromEntries(listed)).toEqual({ Zeta: 7000, alpha: null, ci: 5000 });
        expect(await ops.revokeToken("ci")).toBe(true);
        expect(await ops.revokeToken("ci")).toBe(false);
        expect(await ops.tokenBySha256("a".repeat(64))).toBeNull();
        expect((await ops.listTokens()).map((r) => r.name)).toEqual(["Zeta", "alpha"]);
      }));

    test("tokens: a taken name is refused by the store, and by ApiTokens in one line", () =>
      withStore(backend, async ({ ops }) => {
        await ops.createToken({ name: "ci", scope: "read", tokenSha256: "a".repeat(64), hint: "x", nowMs: 1 });
        await expect(ops.createToken({ name: "ci", scope: "admin", tokenSha256: "c".repeat(64), hint: "y", nowMs: 2 })).rejects.toThrow(backend.duplicateName("ci"));
        expect((await ops.listTokens()).map((r) => [r.name, r.scope])).toEqual([["ci", "read"]]);
        const tokens = new ApiTokens(ops, () => 3);
        expect(await tokens.create("ci", "admin")).toEqual({ ok: false, message: tokenNameTaken("ci") });
        const made = await tokens.create("deploy", "admin");
        if (!made.ok) throw new Error(made.message);
        expect((await tokens.verify(made.created.token))?.name).toBe("deploy");
      }));

    test("events: newest first, paged by id, filtered by kind, pruned by age", () =>
      withStore(backend, async ({ ops }) => {
        const base = { actor: "session", client: "127.0.0.1", outcome: "ok" as const };
        expect(await ops.listEvents({ limit: 10 })).toEqual([]);
        await ops.recordEvents([]);
        await ops.recordEvents([1, 2, 3, 4].map((i) => ({ ...base, atMs: 1_765_000_000_000 + i * 1000, kind: i % 2 ? "login" : "add", detail: `e${i}` })));
        const all = await ops.listEvents({ limit: 10 });
        expect(all.map((e) => e.detail)).toEqual(["e4", "e3", "e2", "e1"]);
        expect(all[0]).toEqual({ id: all[0]!.id, atMs: 1_765_000_004_000, kind: "add", actor: "session", client: "127.0.0.1", outcome: "ok", detail: "e4" });
        expect(typeof all[0]!.id).toBe("number");
        expect((await ops.listEvents({ limit: 2, beforeId: all[1]!.id })).map((e) => e.detail)).toEqual(["e2", "e1"]);
        expect((await ops.listEvents({ limit: 1, beforeId: all[1]!.id, kind: "login" })).map((e) => e.detail)).toEqual(["e1"]);
        expect((await ops.listEvents({ limit: 10, kind: "login" })).map((e) => e.detail)).toEqual(["e3", "e1"]);
        expect((await ops.listEvents({ limit: 0 })).map((e) => e.detail)).toEqual(["e4"]); // at least one
        expect(await ops.pruneEvents(1_765_000_002_500)).toBe(2);
        expect(await ops.pruneEvents(1_765_000_002_500)).toBe(0);
        expect((await ops.listEvents({ limit: 10 })).map((e) => e.detail)).toEqual(["e4", "e3"]);
      }));

    test("traffic: deltas add to their hours, read back oldest first, summed; large byte counts exact", () =>
      withStore(backend, async ({ ops }) => {
        expect(await ops.trafficTotal()).toEqual({ hits: 0, misses: 0, bytesFromCache: 0, bytesFromOrigin: 0 });
        const h = (n: number) => 490_000 * HOUR_MS + n * HOUR_MS;
        const big = 5_000_000_000_123; // past 2^32: BIGINT all the way
        await ops.addTraffic([{ hourMs: h(1), hits: 1, misses: 2, bytesFromCache: big, bytesFromOrigin: 10 }]);
        // Same hour twice in one call, and an hour already written: everything adds up.
        await ops.addTraffic([
          { hourMs: h(2), hits: 5, misses: 0, bytesFromCache: 0, bytesFromOrigin: 1 },
          { hourMs: h(1), hits: 3, misses: 0, bytesFromCache: 7, bytesFromOrigin: 0 },
          { hourMs: h(2), hits: 1, misses: 1, bytesFromCache: 0, bytesFromOrigin: 1 },
        ]);
        await ops.addTraffic([]);
        expect(await ops.trafficSince(0)).toEqual([
          { hourMs: h(1), hits: 4, misses: 2, bytesFromCache: big + 7, bytesFromOrigin: 10 },
          { hourMs: h(2), hits: 6, misses: 1, bytesFromCache: 0, bytesFromOrigin: 2 },
        ]);
        expect((await ops.trafficSince(h(2))).map((b) => b.hourMs)).toEqual([h(2)]);
        expect(await ops.trafficSince(h(3))).toEqual([]);
        expect(await ops.trafficTotal()).toEqual({ hits: 10, misses: 3, bytesFromCache: big + 7, bytesFromOrigin: 12 });
      }));

    test("traffic: the recorder counts in memory and writes hourly buckets on flush", () =>
      withStore(backend, async ({ ops }) => {
        let now = 5 * HOUR_MS + 10;
        const rec = new TrafficRecorder(ops, () => now, 60_000);
        rec.hit();
        rec.servedFromCache(100);
        rec.miss();
        now += HOUR_MS;
        rec.hit();
        rec.fetchedFromOrigin(40);
        expect(await ops.trafficSince(0)).toEqual([]);
        await rec.close();
        expect(await ops.trafficSince(0)).toEqual([
          { hourMs: 5 * HOUR_MS, hits: 1, misses: 1, bytesFromCache: 100, bytesFromOrigin: 0 },
          { hourMs: 6 * HOUR_MS, hits: 1, misses: 0, bytesFromCache: 0, bytesFromOrigin: 40 },
        ]);
      }));

    test("top artifacts: hits × size, largest first, ties by key; unhit ones are not listed", () =>
      withStore(backend, async (h) => {
        await h.seedArtifact({ key: "https://h/big", sizeBytes: 1000, hits: 1 });
        await h.seedArtifact({ key: "https://h/small", sizeBytes: 10, hits: 50 });
        await h.seedArtifact({ key: "https://h/never", sizeBytes: 5000, hits: 0 });
        await h.seedArtifact({ key: "https://h/b-tie", sizeBytes: 250, hits: 2 });
        await h.seedArtifact({ key: "https://h/B-tie", sizeBytes: 500, hits: 1 });
        expect(await h.ops.topArtifactsBySaved(10)).toEqual([
          { key: "https://h/big", url: "https://h/big", sizeBytes: 1000, hits: 1, bytesSaved: 1000 },
          // Equal savings: byte order of the key ("B" < "b" < "s"), as SQLite compares.
          { key: "https://h/B-tie", url: "https://h/B-tie", sizeBytes: 500, hits: 1, bytesSaved: 500 },
          { key: "https://h/b-tie", url: "https://h/b-tie", sizeBytes: 250, hits: 2, bytesSaved: 500 },
          { key: "https://h/small", url: "https://h/small", sizeBytes: 10, hits: 50, bytesSaved: 500 },
        ]);
        expect((await h.ops.topArtifactsBySaved(1)).map((a) => a.key)).toEqual(["https://h/big"]);
        expect(await h.ops.topArtifactsBySaved(0)).toHaveLength(1); // at least one
      }));
  });
}

describe("ops store (postgres, two replicas)", () => {
  test("two replicas adding traffic at once sum exactly", async () => {
    const url = await freshDatabase();
    const a = pgReplica(url);
    const b = pgReplica(url);
    try {
      const h1 = 7 * HOUR_MS;
      const h2 = 8 * HOUR_MS;
      const rounds = 40;
      // Each replica writes both hours per call, in opposite orders (the store locks hours in one
      // order, so the two never deadlock), all calls in flight together.
      const calls: Promise<void>[] = [];
      for (let i = 0; i < rounds; i += 1) {
        calls.push(a.ops.addTraffic([{ hourMs: h1, hits: 1, misses: 0, bytesFromCache: 1000, bytesFromOrigin: 0 }, { hourMs: h2, hits: 0, misses: 1, bytesFromCache: 0, bytesFromOrigin: 3 }]));
        calls.push(b.ops.addTraffic([{ hourMs: h2, hits: 0, misses: 2, bytesFromCache: 0, bytesFromOrigin: 5 }, { hourMs: h1, hits: 2, misses: 0, bytesFromCache: 10, bytesFromOrigin: 0 }]));
      }
      await Promise.all(calls);
      const expected = [
        { hourMs: h1, hits: 3 * rounds, misses: 0, bytesFromCache: 1010 * rounds, bytesFromOrigin: 0 },
        { hourMs: h2, hits: 0, misses: 3 * rounds, bytesFromCache: 0, bytesFromOrigin: 8 * rounds },
      ];
      expect(await a.ops.trafficSince(0)).toEqual(expected);
      expect(await b.ops.trafficSince(0)).toEqual(expected);
      expect(await b.ops.trafficTotal()).toEqual({ hits: 3 * rounds, misses: 3 * rounds, bytesFromCache: 1010 * rounds, bytesFromOrigin: 8 * rounds });
    } finally {
      await Promise.all([a.sql.close(), b.sql.close()]);
    }
  });

  test("a token created through one replica is found, touched and revoked through the other; a raced name goes to one", async () => {
    const url = await freshDatabase();
    const a = pgReplica(url);
    const b = pgReplica(url);
    try {
      const t = await a.ops.createToken({ name: "ci", scope: "admin", tokenSha256: "a".repeat(64), hint: "wc_abcd…", nowMs: 1000 });
      expect(await b.ops.tokenBySha256("a".repeat(64))).toEqual(t);
      await b.ops.touchTokens(new Map([[t.id, 9000]]));
      expect((await a.ops.listTokens())[0]!.lastUsedMs).toBe(9000);
      // Both replicas create "race" at once: the unique index lets one through.
      const raced = await Promise.allSettled([
        a.ops.createToken({ name: "race", scope: "read", tokenSha256: "b".repeat(64), hint: "x", nowMs: 1 }),
        b.ops.createToken({ name: "race", scope: "read", tokenSha256: "c".repeat(64), hint: "y", nowMs: 1 }),
      ]);
      expect(raced.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const lost = raced.find((r) => r.status === "rejected") as PromiseRejectedResult;
      expect((lost.reason as Error).message).toBe(tokenNameTaken("race"));
      expect((await b.ops.listTokens()).map((r) => r.name)).toEqual(["ci", "race"]);
      expect(await b.ops.revokeToken("ci")).toBe(true);
      expect(await a.ops.tokenBySha256("a".repeat(64))).toBeNull();
      expect(await a.ops.revokeToken("ci")).toBe(false);
    } finally {
      await Promise.all([a.sql.close(), b.sql.close()]);
    }
  });

  test("a database that is not there fails in one line without the URL", async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const sql = new SQL("postgres://postgres:s3cret@127.0.0.1:1/postgres", { max: 1 });
    try {
      const ops = new PgOpsStore(sql);
      const err = await ops.listTokens().then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toBe("the database is unreachable (connection refused or closed)");
      const dup = await ops.createToken({ name: "x", scope: "read", tokenSha256: "a".repeat(64), hint: "x", nowMs: 1 }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(dup?.message).not.toContain("s3cret");
      expect(dup?.message).toBe("the database is unreachable (connection refused or closed)");
    } finally {
      await sql.close();
    }
  });
});
