// The PostgreSQL schema (scale-out: several cache-hosts over one database). The same tables as
// the SQLite schema (sqlite-metadata.ts), plus what sharing needs: job leases (a replica that dies
// mid-fill loses its lease and another one takes the job), a changes table a replica replays after
// a reconnect (LISTEN/NOTIFY drops what is sent while it is away), and shared operator sessions.
// Migrations are numbered; each runs in one transaction under an advisory lock, so replicas that
// start together migrate once.
import type { SQL } from "bun";

/** The advisory lock key every replica takes to migrate (any constant; "with" in ASCII). */
const MIGRATION_LOCK_KEY = 0x77697468;
/** Held by every writing transaction until it commits (see migration 2): change ids commit in order. */
export const CHANGES_LOCK_KEY = 0x77697469;
/** The advisory lock the evictor holds: one eviction at a time across replicas. */
export const EVICTION_LOCK_KEY = 0x7769746a;
/**
 * Two-key advisory locks (a key space apart from the one-key locks above) on (BLOB_LOCK_CLASS,
 * hashtext(sha256)): a row commit of a blob and a delete of its object never overlap.
 */
export const BLOB_LOCK_CLASS = 0x7769;

/** Take the blob locks of `shas` in this transaction, in sorted order (two holders of several never wait in a cycle). */
export async function lockBlobs(tx: SQL, shas: readonly string[]): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${BLOB_LOCK_CLASS}::int4, hashtext(t.s)) FROM (SELECT unnest(${[...shas]}::text[]) AS s ORDER BY 1) t`;
}
/** NOTIFY channel: "something changed, read the changes table". */
export const CHANGES_CHANNEL = "withcache_changes";
/** The transaction-local setting a replica's write sets to its replica id (see migration 3). */
export const ORIGIN_SETTING = "withcache.replica";

export const PG_MIGRATIONS: readonly string[] = [
  // 1: artifacts, misses, jobs (with leases), revoked sessions, operations, changes.
  `CREATE TABLE artifacts (
     key TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     size_bytes BIGINT NOT NULL,
     content_type TEXT NOT NULL,
     content_disposition TEXT,
     fetched_at_ms BIGINT NOT NULL,
     last_hit_ms BIGINT,
     hits BIGINT NOT NULL DEFAULT 0,
     misses BIGINT NOT NULL DEFAULT 0,
     redirected BOOLEAN NOT NULL DEFAULT false,
     origin_headers TEXT,
     request_at_ms BIGINT,
     response_at_ms BIGINT,
     revalidated_at_ms BIGINT,
     revalidation TEXT,
     revalidation_detail TEXT,
     superseded BOOLEAN NOT NULL DEFAULT false
   );
   CREATE INDEX artifacts_sha256 ON artifacts(sha256);
   CREATE INDEX artifacts_by_size ON artifacts(size_bytes, key);
   CREATE INDEX artifacts_by_hits ON artifacts(hits, key);
   CREATE INDEX artifacts_by_last_hit ON artifacts((coalesce(last_hit_ms, 0)), key);
   CREATE INDEX artifacts_by_fetched ON artifacts(fetched_at_ms, key);
   CREATE INDEX artifacts_by_url ON artifacts(url, key);
   CREATE TABLE misses (
     key TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     count BIGINT NOT NULL,
     first_seen_ms BIGINT NOT NULL,
     last_seen_ms BIGINT NOT NULL,
     known_size_bytes BIGINT,
     refusal TEXT,
     uncacheable_until_ms BIGINT
   );
   CREATE INDEX misses_last_seen ON misses(last_seen_ms);
   CREATE TABLE jobs (
     id BIGSERIAL PRIMARY KEY,
     key TEXT NOT NULL,
     url TEXT NOT NULL,
     source TEXT NOT NULL,
     state TEXT NOT NULL,
     bytes_done BIGINT NOT NULL DEFAULT 0,
     total_bytes BIGINT,
     rate_bytes_per_sec DOUBLE PRECISION NOT NULL DEFAULT 0,
     error TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     not_before_ms BIGINT NOT NULL DEFAULT 0,
     validator TEXT,
     synced_bytes BIGINT NOT NULL DEFAULT 0,
     boot_id TEXT,
     lease_owner TEXT,
     lease_until_ms BIGINT,
     created_at_ms BIGINT NOT NULL,
     started_at_ms BIGINT,
     finished_at_ms BIGINT
   );
   CREATE UNIQUE INDEX jobs_one_active_per_key ON jobs(key) WHERE state IN ('queued', 'running');
   CREATE INDEX jobs_queue ON jobs(state, not_before_ms, id);
   CREATE INDEX jobs_key ON jobs(key, id);
   CREATE INDEX jobs_lease ON jobs(lease_until_ms) WHERE state = 'running';
   CREATE TABLE revoked_sessions (
     id TEXT PRIMARY KEY,
     expires_at_ms BIGINT NOT NULL
   );
   CREATE INDEX revoked_sessions_expiry ON revoked_sessions(expires_at_ms);
   CREATE TABLE api_tokens (
     id BIGSERIAL PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     scope TEXT NOT NULL,
     token_sha256 TEXT NOT NULL UNIQUE,
     hint TEXT NOT NULL,
     created_at_ms BIGINT NOT NULL,
     last_used_ms BIGINT
   );
   CREATE TABLE events (
     id BIGSERIAL PRIMARY KEY,
     at_ms BIGINT NOT NULL,
     kind TEXT NOT NULL,
     actor TEXT NOT NULL,
     client TEXT NOT NULL,
     outcome TEXT NOT NULL,
     detail TEXT NOT NULL
   );
   CREATE INDEX events_at ON events(at_ms);
   CREATE INDEX events_kind ON events(kind, id);
   CREATE TABLE traffic_hourly (
     hour_ms BIGINT PRIMARY KEY,
     hits BIGINT NOT NULL DEFAULT 0,
     misses BIGINT NOT NULL DEFAULT 0,
     bytes_from_cache BIGINT NOT NULL DEFAULT 0,
     bytes_from_origin BIGINT NOT NULL DEFAULT 0
   );
   -- Every committed change of a row a replica keeps in memory, in commit order: a replica that
   -- reconnects replays the changes after the last id it saw.
   CREATE TABLE changes (
     id BIGSERIAL PRIMARY KEY,
     at_ms BIGINT NOT NULL,
     kind TEXT NOT NULL,
     key TEXT NOT NULL
   );`,
  // 2: the changes table is written by triggers, so no writer (a replica, withcache migrate, an
  // operator's psql) can change a mirrored row without telling the replicas. Writers take one
  // advisory lock until they commit, so change ids commit in id order: a replica that has read up
  // to id N never sees an id below N appear later. Settings shared by every replica (the session
  // signing secret: a login on one replica is valid on all of them).
  `CREATE FUNCTION withcache_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
   DECLARE
     r jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
   BEGIN
     PERFORM pg_advisory_xact_lock(${CHANGES_LOCK_KEY});
     INSERT INTO changes (at_ms, kind, key)
       VALUES ((extract(epoch FROM clock_timestamp()) * 1000)::bigint, TG_ARGV[0], r->>TG_ARGV[1]);
     PERFORM pg_notify('${CHANGES_CHANNEL}', '');
     RETURN NULL;
   END
   $fn$;
   CREATE TRIGGER artifacts_change AFTER INSERT OR UPDATE OR DELETE ON artifacts FOR EACH ROW EXECUTE FUNCTION withcache_change('artifacts', 'key');
   CREATE TRIGGER misses_change AFTER INSERT OR UPDATE OR DELETE ON misses FOR EACH ROW EXECUTE FUNCTION withcache_change('misses', 'key');
   CREATE TRIGGER jobs_change AFTER INSERT OR UPDATE OR DELETE ON jobs FOR EACH ROW EXECUTE FUNCTION withcache_change('jobs', 'id');
   CREATE TRIGGER revoked_sessions_change AFTER INSERT OR UPDATE OR DELETE ON revoked_sessions FOR EACH ROW EXECUTE FUNCTION withcache_change('revoked_sessions', 'id');
   CREATE INDEX changes_at ON changes(at_ms);
   -- Where each replica answers (its advertised URL): a replica streams a fill that another one
   -- runs from that one. Written once at start-up, so the trigger costs nothing.
   CREATE TABLE replicas (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     started_at_ms BIGINT NOT NULL
   );
   CREATE TRIGGER replicas_change AFTER INSERT OR UPDATE OR DELETE ON replicas FOR EACH ROW EXECUTE FUNCTION withcache_change('replicas', 'id');
   CREATE TABLE settings (
     name TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );`,
  // 3: each change names the replica whose transaction made it (the transaction-local setting
  // withcache.replica, set by the replica's writes; NULL for any other writer), so a replica
  // does not read back the rows it has just written (it applies them to its view at commit).
  // After a transaction-local set_config ends, the setting reads '' in that session, hence nullif.
  `ALTER TABLE changes ADD COLUMN origin TEXT;
   CREATE OR REPLACE FUNCTION withcache_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
   DECLARE
     r jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
   BEGIN
     PERFORM pg_advisory_xact_lock(${CHANGES_LOCK_KEY});
     INSERT INTO changes (at_ms, kind, key, origin)
       VALUES ((extract(epoch FROM clock_timestamp()) * 1000)::bigint, TG_ARGV[0], r->>TG_ARGV[1],
               nullif(current_setting('${ORIGIN_SETTING}', true), ''));
     PERFORM pg_notify('${CHANGES_CHANNEL}', '');
     RETURN NULL;
   END
   $fn$;`,
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/**
 * Bring the database to PG_SCHEMA_VERSION. Replicas starting together wait on one advisory lock:
 * the first migrates, the others find nothing to do. A database newer than this build is refused
 * with one line (an older binary must not write rows it does not understand).
 */
export async function migratePostgres(sql: SQL): Promise<{ from: number; to: number }> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`;
    const rows = (await tx`SELECT version FROM schema_version`) as Array<{ version: number }>;
    const from = rows[0]?.version ?? 0;
    if (from > PG_SCHEMA_VERSION) {
      throw new Error(`--database: the schema is version ${from}, newer than this withcache knows (${PG_SCHEMA_VERSION}); upgrade withcache`);
    }
    for (let v = from; v < PG_SCHEMA_VERSION; v++) await tx.unsafe(PG_MIGRATIONS[v]!);
    if (rows.length === 0) await tx`INSERT INTO schema_version (version) VALUES (${PG_SCHEMA_VERSION})`;
    else await tx`UPDATE schema_version SET version = ${PG_SCHEMA_VERSION}`;
    return { from, to: PG_SCHEMA_VERSION };
  });
}
