// The embedded OpsStore: API tokens, the audit log and hourly traffic in the same SQLite database
// as the rows (migration 8 of sqlite-metadata.ts creates the tables). Async to fit the seam; each
// call is one prepared statement or one transaction.
import type { Database } from "bun:sqlite";
import { z } from "zod";
import { opsRows } from "./ops-rows.ts";
import type { ApiTokenRow, EventRow, HourlyTraffic, NewEvent, OpsStore } from "./types.ts";

const { toToken, toEvent, toTraffic, TrafficSumDb, TopDb } = opsRows(z.number());

/** Most events one listEvents call returns (the API's page size cap is below it). */
export const EVENTS_PAGE_MAX = 1000;

export class SqliteOpsStore implements OpsStore {
  constructor(private readonly db: Database) {}

  async createToken(t: { name: string; scope: "read" | "admin"; tokenSha256: string; hint: string; nowMs: number }): Promise<ApiTokenRow> {
    const row = this.db
      .query("INSERT INTO api_tokens (name, scope, token_sha256, hint, created_at_ms) VALUES ($name, $scope, $sha, $hint, $now) RETURNING id, name, scope, hint, created_at_ms, last_used_ms")
      .get({ name: t.name, scope: t.scope, sha: t.tokenSha256, hint: t.hint, now: t.nowMs });
    return toToken(row);
  }

  async listTokens(): Promise<ApiTokenRow[]> {
    return this.db.query("SELECT id, name, scope, hint, created_at_ms, last_used_ms FROM api_tokens ORDER BY name").all().map(toToken);
  }

  async tokenBySha256(tokenSha256: string): Promise<ApiTokenRow | null> {
    const row = this.db.query("SELECT id, name, scope, hint, created_at_ms, last_used_ms FROM api_tokens WHERE token_sha256 = $sha").get({ sha: tokenSha256 });
    return row ? toToken(row) : null;
  }

  async revokeToken(name: string): Promise<boolean> {
    return this.db.query("DELETE FROM api_tokens WHERE name = $name").run({ name }).changes === 1;
  }

  async touchTokens(uses: ReadonlyMap<number, number>): Promise<void> {
    if (uses.size === 0) return;
    const touch = this.db.query("UPDATE api_tokens SET last_used_ms = max(coalesce(last_used_ms, 0), $at) WHERE id = $id");
    this.db.transaction(() => {
      for (const [id, at] of uses) touch.run({ id, at });
    })();
  }

  async recordEvents(events: readonly NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    const insert = this.db.query("INSERT INTO events (at_ms, kind, actor, client, outcome, detail) VALUES ($at, $kind, $actor, $client, $outcome, $detail)");
    this.db.transaction(() => {
      for (const e of events) insert.run({ at: e.atMs, kind: e.kind, actor: e.actor, client: e.client, outcome: e.outcome, detail: e.detail });
    })();
  }

  async listEvents(options: { limit: number; beforeId?: number; kind?: string }): Promise<EventRow[]> {
    const limit = Math.max(1, Math.min(EVENTS_PAGE_MAX, Math.floor(options.limit)));
    const before = options.beforeId ?? Number.MAX_SAFE_INTEGER;
    const rows =
      options.kind === undefined
        ? this.db.query("SELECT * FROM events WHERE id < $before ORDER BY id DESC LIMIT $limit").all({ before, limit })
        : this.db.query("SELECT * FROM events WHERE kind = $kind AND id < $before ORDER BY id DESC LIMIT $limit").all({ kind: options.kind, before, limit });
    return rows.map(toEvent);
  }

  async pruneEvents(beforeMs: number): Promise<number> {
    return this.db.query("DELETE FROM events WHERE at_ms < $before").run({ before: beforeMs }).changes;
  }

  async addTraffic(buckets: readonly HourlyTraffic[]): Promise<void> {
    if (buckets.length === 0) return;
    const upsert = this.db.query(
      `INSERT INTO traffic_hourly (hour_ms, hits, misses, bytes_from_cache, bytes_from_origin) VALUES ($hour, $hits, $misses, $cache, $origin)
       ON CONFLICT(hour_ms) DO UPDATE SET hits = hits + excluded.hits, misses = misses + excluded.misses,
         bytes_from_cache = bytes_from_cache + excluded.bytes_from_cache, bytes_from_origin = bytes_from_origin + excluded.bytes_from_origin`,
    );
    this.db.transaction(() => {
      for (const b of buckets) upsert.run({ hour: b.hourMs, hits: b.hits, misses: b.misses, cache: b.bytesFromCache, origin: b.bytesFromOrigin });
    })();
  }

  async trafficSince(sinceMs: number): Promise<HourlyTraffic[]> {
    return this.db.query("SELECT * FROM traffic_hourly WHERE hour_ms >= $since ORDER BY hour_ms").all({ since: sinceMs }).map(toTraffic);
  }

  async trafficTotal(): Promise<Omit<HourlyTraffic, "hourMs">> {
    const r = TrafficSumDb.parse(
      this.db.query("SELECT sum(hits) AS hits, sum(misses) AS misses, sum(bytes_from_cache) AS bytes_from_cache, sum(bytes_from_origin) AS bytes_from_origin FROM traffic_hourly").get(),
    );
    return { hits: r.hits ?? 0, misses: r.misses ?? 0, bytesFromCache: r.bytes_from_cache ?? 0, bytesFromOrigin: r.bytes_from_origin ?? 0 };
  }

  async topArtifactsBySaved(limit: number): Promise<Array<{ key: string; url: string; sizeBytes: number; hits: number; bytesSaved: number }>> {
    const rows = this.db
      .query("SELECT key, url, size_bytes, hits, hits * size_bytes AS saved FROM artifacts WHERE hits > 0 ORDER BY saved DESC, key LIMIT $limit")
      .all({ limit: Math.max(1, Math.min(100, Math.floor(limit))) });
    return rows.map((row) => {
      const r = TopDb.parse(row);
      return { key: r.key, url: r.url, sizeBytes: r.size_bytes, hits: r.hits, bytesSaved: r.saved };
    });
  }
}
