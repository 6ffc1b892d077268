// The OpsStore tables' rows as both databases return them, and as the seam hands them out. The
// only difference between the two: an integer column. SQLite returns a number; PostgreSQL
// returns BIGINT (and sums) as a decimal string, which leaves here as a number.
import { z } from "zod";
import type { ApiTokenRow, EventRow, HourlyTraffic } from "./types.ts";

/** The row schemas and mappers for one database, given how it returns an integer column. */
export function opsRows(int: z.ZodType<number, unknown>) {
  const TokenDb = z.object({ id: int, name: z.string(), scope: z.enum(["read", "admin"]), hint: z.string(), created_at_ms: int, last_used_ms: int.nullable() });
  const EventDb = z.object({ id: int, at_ms: int, kind: z.string(), actor: z.string(), client: z.string(), outcome: z.enum(["ok", "refused", "failed"]), detail: z.string() });
  const TrafficDb = z.object({ hour_ms: int, hits: int, misses: int, bytes_from_cache: int, bytes_from_origin: int });
  return {
    TrafficSumDb: z.object({ hits: int.nullable(), misses: int.nullable(), bytes_from_cache: int.nullable(), bytes_from_origin: int.nullable() }),
    TopDb: z.object({ key: z.string(), url: z.string(), size_bytes: int, hits: int, saved: int }),
    toToken(row: unknown): ApiTokenRow {
      const r = TokenDb.parse(row);
      return { id: r.id, name: r.name, scope: r.scope, hint: r.hint, createdAtMs: r.created_at_ms, lastUsedMs: r.last_used_ms };
    },
    toEvent(row: unknown): EventRow {
      const r = EventDb.parse(row);
      return { id: r.id, atMs: r.at_ms, kind: r.kind, actor: r.actor, client: r.client, outcome: r.outcome, detail: r.detail };
    },
    toTraffic(row: unknown): HourlyTraffic {
      const r = TrafficDb.parse(row);
      return { hourMs: r.hour_ms, hits: r.hits, misses: r.misses, bytesFromCache: r.bytes_from_cache, bytesFromOrigin: r.bytes_from_origin };
    },
  };
}
