// The PostgreSQL schema against a real PostgreSQL 15 (Debian's, started on loopback by the test):
// migrations apply once, concurrent replicas migrate once, a newer schema is refused in one line.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { migratePostgres, PG_SCHEMA_VERSION } from "../src/store/pg-schema.ts";
import { startPostgres, type PostgresServer } from "./helpers/postgres.ts";

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgres();
}, 30_000);
afterAll(async () => {
  await pg?.stop();
});

function freshDatabase(): Promise<string> {
  return pg.createDatabase("wc_test");
}

test("migrations create every table once; a second run does nothing", async () => {
  const sql = new SQL(await freshDatabase(), { max: 2 });
  try {
    expect(await migratePostgres(sql)).toEqual({ from: 0, to: PG_SCHEMA_VERSION });
    expect(await migratePostgres(sql)).toEqual({ from: PG_SCHEMA_VERSION, to: PG_SCHEMA_VERSION });
    const tables = (await sql`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`).map((r: { table_name: string }) => r.table_name);
    expect(tables).toEqual(["api_tokens", "artifacts", "changes", "events", "jobs", "misses", "replicas", "revoked_sessions", "schema_version", "settings", "traffic_hourly"]);
    // One active job per key, as in SQLite: the second insert is refused by the partial unique index.
    await sql`INSERT INTO jobs (key, url, source, state, created_at_ms) VALUES ('k', 'u', 'auto', 'queued', 1)`;
    const dup = await sql`INSERT INTO jobs (key, url, source, state, created_at_ms) VALUES ('k', 'u', 'auto', 'running', 1)`.catch((e: { errno?: string; constraint?: string }) => e);
    expect(dup).toMatchObject({ errno: "23505" });
  } finally {
    await sql.close();
  }
});

test("replicas starting together migrate once", async () => {
  const url = await freshDatabase();
  const clients = [0, 1, 2, 3].map(() => new SQL(url, { max: 1 }));
  try {
    const results = await Promise.all(clients.map((c) => migratePostgres(c)));
    expect(results.filter((r) => r.from === 0)).toHaveLength(1);
    expect(results.every((r) => r.to === PG_SCHEMA_VERSION)).toBe(true);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

test("a database newer than this build is refused in one line", async () => {
  const sql = new SQL(await freshDatabase(), { max: 1 });
  try {
    await migratePostgres(sql);
    await sql`UPDATE schema_version SET version = ${PG_SCHEMA_VERSION + 5}`;
    await expect(migratePostgres(sql)).rejects.toThrow(`--database: the schema is version ${PG_SCHEMA_VERSION + 5}, newer than this withcache knows (${PG_SCHEMA_VERSION}); upgrade withcache`);
  } finally {
    await sql.close();
  }
});
