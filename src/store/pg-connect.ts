// --database postgres://…: connect, check, migrate, and open the shared stores. Every way this can
// fail at start-up is one line naming the flag, the server (never the password) and the reason.
import { SQL } from "bun";
import { randomBytes } from "node:crypto";
import { hidePassword, parseDatabaseUrl } from "../core/database-url.ts";
import { PgMetadataStore } from "./pg-metadata.ts";
import { EVICTION_LOCK_KEY } from "./pg-schema.ts";
import { PgOpsStore } from "./pg-ops.ts";

/** Connections per replica: the pool opens them all at the first query (BUN-NOTES). */
const POOL_MAX = 4;
const CONNECT_TIMEOUT_S = 10;

export type SharedDatabase = {
  metadata: PgMetadataStore;
  ops: PgOpsStore;
  /** `postgres://user:***@host:port/db`. */
  shown: string;
  /** The operator-session signing secret every replica shares (generated once, kept in the database). */
  sessionSecret(): Promise<string>;
  /** Run `fn` holding the eviction lock, or answer null at once while another replica holds it. */
  exclusively<T>(fn: () => Promise<T>): Promise<T | null>;
  removeBlobIfUnreferenced(sha256: string, remove: () => Promise<void>): Promise<boolean>;
  close(): Promise<void>;
};

/** A start-up failure as one line: which server, and why in plain words. */
function startError(err: unknown, raw: string, where: { host: string; database: string }): Error {
  const e = err as { code?: string; errno?: string; message?: string };
  const message = hidePassword(String(e.message ?? err), raw);
  if (message.startsWith("--database:")) return new Error(message);
  const user = URL.parse(raw)?.username || "(default user)";
  switch (e.errno) {
    case "3D000":
      return new Error(`--database: database "${where.database}" does not exist at ${where.host}; create it (createdb) or fix the URL`);
    case "28P01":
    case "28000":
      return new Error(`--database: ${where.host} refused the login of user "${decodeURIComponent(user)}": ${message}`);
    case "42501":
      return new Error(`--database: user "${decodeURIComponent(user)}" may not create the tables in "${where.database}" at ${where.host}: ${message}`);
  }
  if ((e.code ?? "").startsWith("ERR_POSTGRES_CONNECTION") || /failed to connect|connection refused|timeout/i.test(message)) {
    return new Error(`--database: cannot reach PostgreSQL at ${where.host} (${message.replace(/\.$/, "").toLowerCase()})`);
  }
  return new Error(`--database: ${where.host}: ${message}`);
}

/**
 * `existing`: the database must already hold withcache's tables (verify reads the replicas' rows:
 * a wrong database name must not be given a new empty schema and pass as "0 bad").
 */
export async function connectDatabase(raw: string, options: { replicaId: string; onHealth?: (problem: string | null) => void; leaseMs?: number; existing?: boolean }): Promise<SharedDatabase> {
  const parsed = parseDatabaseUrl(raw);
  if (parsed.kind !== "postgres") throw new Error("connectDatabase: not a postgres:// URL");
  const sql = new SQL(parsed.url, { max: POOL_MAX, connectionTimeout: CONNECT_TIMEOUT_S });
  let metadata: PgMetadataStore;
  try {
    await sql`SELECT 1`;
    if (options.existing) {
      const rows = (await sql`SELECT to_regclass('schema_version') IS NOT NULL AS found`) as Array<{ found: boolean }>;
      if (rows[0]?.found !== true) throw new Error(`--database: database "${parsed.database}" at ${parsed.host} holds no withcache tables; give the replicas' --database`);
    }
    metadata = await PgMetadataStore.open(sql, { replicaId: options.replicaId, onHealth: options.onHealth, leaseMs: options.leaseMs });
  } catch (err) {
    await sql.close().catch(() => undefined);
    throw startError(err, raw, parsed);
  }
  const ops = new PgOpsStore(sql);
  return {
    metadata,
    ops,
    shown: parsed.shown,
    async sessionSecret() {
      await sql`INSERT INTO settings (name, value) VALUES ('session-secret', ${randomBytes(32).toString("hex")}) ON CONFLICT (name) DO NOTHING`;
      const rows = (await sql`SELECT value FROM settings WHERE name = 'session-secret'`) as Array<{ value: string }>;
      return rows[0]!.value;
    },
    async exclusively<T>(fn: () => Promise<T>): Promise<T | null> {
      // A transaction-scoped lock: released when the transaction ends, also when this process
      // dies (its connection goes), so a killed evictor never blocks the others.
      return await sql.begin(async (tx) => {
        const rows = (await tx`SELECT pg_try_advisory_xact_lock(${EVICTION_LOCK_KEY}) AS got`) as Array<{ got: boolean }>;
        return rows[0]?.got === true ? await fn() : null;
      });
    },
    removeBlobIfUnreferenced: (sha256, remove) => metadata.removeBlobIfUnreferenced(sha256, remove),
    async close() {
      await metadata.close();
      await sql.close();
    },
  };
}
