// The shared OpsStore: API tokens, the audit log and hourly traffic in PostgreSQL (the tables of
// pg-schema.ts), for several replicas over one database. Same answers as SqliteOpsStore; what
// sharing changes: traffic is added with one upsert per hour (hits = hits + EXCLUDED.hits), so two
// replicas adding at once both count; a name taken by another replica between the caller's check
// and the insert is refused by the unique index with the one line the caller gives. BIGINT and
// sum() arrive as strings and leave as numbers. The caller owns the SQL pool (connect and close).
import type { SQL } from "bun";
import { z } from "zod";
import { tokenNameTaken } from "../core/api-token.ts";
import { databaseError, isUniqueViolation } from "./pg-metadata.ts";
import { EVENTS_PAGE_MAX } from "./sqlite-ops.ts";
import { opsRows } from "./ops-rows.ts";
import type { ApiTokenRow, EventRow, HourlyTraffic, NewEvent, OpsStore } from "./types.ts";

/** A BIGINT (or a sum of them, numeric) as PostgreSQL sends it: a decimal string. */
const Int8 = z.union([z.number(), z.bigint(), z.string().regex(/^-?\d+$/)]).transform((v) => Number(v));

const { toToken, toEvent, toTraffic, TrafficSumDb, TopDb } = opsRows(Int8);
const TOKEN_COLUMNS = "id, name, scope, hint, created_at_ms, last_used_ms";

/** Deltas for the same hour merged, hours ascending: one upsert per hour, and every replica locks hours in the same order (no deadlock). */
export function mergeBuckets(buckets: readonly HourlyTraffic[]): HourlyTraffic[] {
  const byHour = new Map<number, HourlyTraffic>();
  for (const b of buckets) {
    const had = byHour.get(b.hourMs);
    byHour.set(
      b.hourMs,
      had === undefined
        ? { ...b }
        : { hourMs: b.hourMs, hits: had.hits + b.hits, misses: had.misses + b.misses, bytesFromCache: had.bytesFromCache + b.bytesFromCache, bytesFromOrigin: had.bytesFromOrigin + b.bytesFromOrigin },
    );
  }
  return [...byHour.values()].sort((a, b) => a.hourMs - b.hourMs);
}

export class PgOpsStore implements OpsStore {
  constructor(private readonly sql: SQL) {}

  /** Run one database call; a failure leaves as one line (no URL: it may carry a password). */
  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw databaseError(err);
    }
  }

  async createToken(t: { name: string; scope: "read" | "admin"; tokenSha256: string; hint: string; nowMs: number }): Promise<ApiTokenRow> {
    try {
      const rows = await this.sql.unsafe(
        `INSERT INTO api_tokens (name, scope, token_sha256, hint, created_at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING ${TOKEN_COLUMNS}`,
        [t.name, t.scope, t.tokenSha256, t.hint, t.nowMs],
      );
      return toToken(rows[0]);
    } catch (err) {
      if (isUniqueViolation(err, "api_tokens_name_key")) throw new Error(tokenNameTaken(t.name));
      throw databaseError(err);
    }
  }

  async listTokens(): Promise<ApiTokenRow[]> {
    // COLLATE "C": byte order, as SQLite sorts, whatever locale the database was created with.
    const rows = await this.run(() => this.sql.unsafe(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY name COLLATE "C"`));
    return [...rows].map(toToken);
  }

  async tokenBySha256(tokenSha256: string): Promise<ApiTokenRow | null> {
    const rows = await this.run(() => this.sql.unsafe(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_sha256 = $1`, [tokenSha256]));
    return rows[0] ? toToken(rows[0]) : null;
  }

  async revokeToken(name: string): Promise<boolean> {
    const rows = await this.run(() => this.sql`DELETE FROM api_tokens WHERE name = ${name} RETURNING id`);
    return rows.length === 1;
  }

  async touchTokens(uses: ReadonlyMap<number, number>): Promise<void> {
    if (uses.size === 0) return;
    const sorted = [...uses].sort((a, b) => a[0] - b[0]);
    await this.run(() =>
      this.sql.begin(async (tx) => {
        for (const [id, at] of sorted) await tx`UPDATE api_tokens SET last_used_ms = greatest(coalesce(last_used_ms, 0), ${at}::bigint) WHERE id = ${id}`;
      }),
    );
  }

  async recordEvents(events: readonly NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.run(() =>
      this.sql.begin(async (tx) => {
        for (const e of events) {
          await tx`INSERT INTO events (at_ms, kind, actor, client, outcome, detail) VALUES (${e.atMs}, ${e.kind}, ${e.actor}, ${e.client}, ${e.outcome}, ${e.detail})`;
        }
      }),
    );
  }

  async listEvents(options: { limit: number; beforeId?: number; kind?: string }): Promise<EventRow[]> {
    const limit = Math.max(1, Math.min(EVENTS_PAGE_MAX, Math.floor(options.limit)));
    const before = options.beforeId ?? Number.MAX_SAFE_INTEGER;
    const rows = await this.run(() =>
      options.kind === undefined
        ? this.sql`SELECT * FROM events WHERE id < ${before}::bigint ORDER BY id DESC LIMIT ${limit}`
        : this.sql`SELECT * FROM events WHERE kind = ${options.kind} AND id < ${before}::bigint ORDER BY id DESC LIMIT ${limit}`,
    );
    return [...rows].map(toEvent);
  }

  async pruneEvents(beforeMs: number): Promise<number> {
    const rows = await this.run(() => this.sql`WITH gone AS (DELETE FROM events WHERE at_ms < ${beforeMs}::bigint RETURNING 1) SELECT count(*) AS n FROM gone`);
    return Int8.parse((rows[0] as { n: unknown }).n);
  }

  async addTraffic(buckets: readonly HourlyTraffic[]): Promise<void> {
    if (buckets.length === 0) return;
    const merged = mergeBuckets(buckets);
    await this.run(() =>
      this.sql.begin(async (tx) => {
        for (const b of merged) {
          await tx`INSERT INTO traffic_hourly (hour_ms, hits, misses, bytes_from_cache, bytes_from_origin)
                   VALUES (${b.hourMs}::bigint, ${b.hits}::bigint, ${b.misses}::bigint, ${b.bytesFromCache}::bigint, ${b.bytesFromOrigin}::bigint)
                   ON CONFLICT (hour_ms) DO UPDATE SET hits = traffic_hourly.hits + EXCLUDED.hits, misses = traffic_hourly.misses + EXCLUDED.misses,
                     bytes_from_cache = traffic_hourly.bytes_from_cache + EXCLUDED.bytes_from_cache,
                     bytes_from_origin = traffic_hourly.bytes_from_origin + EXCLUDED.bytes_from_origin`;
        }
      }),
    );
  }

  async trafficSince(sinceMs: number): Promise<HourlyTraffic[]> {
    const rows = await this.run(() => this.sql`SELECT * FROM traffic_hourly WHERE hour_ms >= ${sinceMs}::bigint ORDER BY hour_ms`);
    return [...rows].map(toTraffic);
  }

  async trafficTotal(): Promise<Omit<HourlyTraffic, "hourMs">> {
    const rows = await this.run(
      () => this.sql`SELECT sum(hits) AS hits, sum(misses) AS misses, sum(bytes_from_cache) AS bytes_from_cache, sum(bytes_from_origin) AS bytes_from_origin FROM traffic_hourly`,
    );
    const r = TrafficSumDb.parse(rows[0]);
    return { hits: r.hits ?? 0, misses: r.misses ?? 0, bytesFromCache: r.bytes_from_cache ?? 0, bytesFromOrigin: r.bytes_from_origin ?? 0 };
  }

  async topArtifactsBySaved(limit: number): Promise<Array<{ key: string; url: string; sizeBytes: number; hits: number; bytesSaved: number }>> {
    const n = Math.max(1, Math.min(100, Math.floor(limit)));
    // numeric: hits × size cannot overflow BIGINT; key COLLATE "C" breaks ties in SQLite's byte order.
    const rows = await this.run(
      () => this.sql`SELECT key, url, size_bytes, hits, hits::numeric * size_bytes AS saved FROM artifacts WHERE hits > 0 ORDER BY saved DESC, key COLLATE "C" LIMIT ${n}`,
    );
    return [...rows].map((row) => {
      const r = TopDb.parse(row);
      return { key: r.key, url: r.url, sizeBytes: r.size_bytes, hits: r.hits, bytesSaved: r.saved };
    });
  }
}
