// `withcache migrate`: copy an embedded data dir (SQLite rows + blob files) into a PostgreSQL
// database and an S3 bucket, for a scale-out deployment. The source is never written: the lock is
// probed with a read transaction (held while we run, so a cache-host cannot start on the dir
// meanwhile), withcache.db is opened read-only and immutable (a plain read-only open of a WAL
// database would create -wal/-shm files in the dir), blob files are only read.
//
// Ordering, so a kill at any moment leaves a state the next run completes: per batch of
// artifacts, every blob is uploaded (streamed and hashed on the way; an upload whose bytes do not
// hash to the row's sha256 is aborted before S3 completes it) and its size read back, and only
// then are the rows inserted (ON CONFLICT (key) DO NOTHING), so a row never points at a missing
// object. A blob already in the bucket at the right size is hashed there instead of uploaded. A
// row the database holds already is skipped without touching S3: its object was in place before
// that row was written.
import { Database, constants as sqliteConstants } from "bun:sqlite";
import { SQL } from "bun";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { hidePassword, parseDatabaseUrl } from "../core/database-url.ts";
import { loggableUrl } from "../core/log.ts";
import { emptyCounts, type MigrateCounts } from "../core/migrate-report.ts";
import { REVALIDATION_RESULTS } from "./types.ts";
import { CHANGES_LOCK_KEY, lockBlobs, migratePostgres } from "./pg-schema.ts";
import { databaseError } from "./pg-metadata.ts";
import { connectBucket, s3Reason, type S3Bucket } from "./s3-blobs.ts";
import { SCHEMA_VERSION } from "./sqlite-metadata.ts";

/** Artifacts per batch: their blobs are uploaded, then their rows inserted in one transaction. */
export const BATCH_ARTIFACTS_MAX = 32;
/** A batch also ends once its blobs reach this many bytes (large artifacts: rows land sooner). */
export const BATCH_BYTES_MAX = 256 * 1024 ** 2;
/** Blobs uploaded (or hashed in the bucket) at once. */
const UPLOADS_INFLIGHT_MAX = 4;
/** Tries per upload on a network or S3 error before the run stops (a bad hash is never retried). */
const UPLOAD_ATTEMPTS = 3;
const UPLOAD_RETRY_MS = [500, 2000];
/** Rows of misses and tokens per insert. */
const ROWS_PAGE = 1000;
/** How long connecting to PostgreSQL may take. */
const CONNECT_TIMEOUT_S = 10;

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);
const Int = z.number().int();
const IntOrNull = z.number().int().nullable();
const SourceArtifact = z.object({
  key: z.string(),
  url: z.string(),
  sha256: SHA256,
  size_bytes: Int.min(0),
  content_type: z.string(),
  content_disposition: z.string().nullable(),
  fetched_at_ms: Int,
  last_hit_ms: IntOrNull,
  hits: Int,
  misses: Int,
  redirected: z.union([z.literal(0), z.literal(1)]),
  origin_headers: z.string().nullable(),
  request_at_ms: IntOrNull,
  response_at_ms: IntOrNull,
  revalidated_at_ms: IntOrNull,
  revalidation: z.enum(REVALIDATION_RESULTS).nullable(),
  revalidation_detail: z.string().nullable(),
  superseded: z.union([z.literal(0), z.literal(1)]),
});
type SourceArtifact = z.infer<typeof SourceArtifact>;
const SourceMiss = z.object({
  key: z.string(),
  url: z.string(),
  count: Int,
  first_seen_ms: Int,
  last_seen_ms: Int,
  known_size_bytes: IntOrNull,
  refusal: z.string().nullable(),
  uncacheable_until_ms: IntOrNull,
});
const SourceToken = z.object({
  name: z.string(),
  scope: z.string(),
  token_sha256: SHA256,
  hint: z.string(),
  created_at_ms: Int,
  last_used_ms: IntOrNull,
});

/** A refusal of one artifact (its blob), reported in one line; the run goes on. */
class BlobRefused extends Error {}

export type MigrateOptions = {
  from: string;
  database: string;
  blobStore: string;
  env: Record<string, string | undefined>;
  /** A progress line is due (after a batch, or a second into a long one). */
  onProgress?: (counts: Readonly<MigrateCounts>) => void;
  /** One line about something not copied (the run goes on, and ends with exit 1). */
  onProblem?: (line: string) => void;
  /** Artifacts per batch (--batch-size), and the progress interval; defaults above. */
  batchArtifactsMax?: number;
  progressEveryMs?: number;
};

export type MigrateResult = { counts: MigrateCounts; database: string; blobStore: string; from: string };

/** percent-encode a path for an SQLite URI filename (`?`, `#` and `%` would end or escape it). */
function sqliteUri(path: string, query: string): string {
  return `file:${path.split("/").map(encodeURIComponent).join("/")}?${query}`;
}

function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

/**
 * Refuse when a cache-host holds the dir's lock (an EXCLUSIVE SQLite lock on lock.db, see
 * lock.ts): our read of lock.db then gets SQLITE_BUSY at once. Otherwise the read transaction is
 * kept open: its SHARED lock makes a cache-host that starts on the dir meanwhile refuse to start.
 * Returns the release.
 */
function holdSourceLock(dir: string): () => void {
  const lockDb = join(dir, "lock.db");
  if (!existsSync(lockDb)) return () => {};
  let db: Database;
  try {
    db = new Database(lockDb, { readonly: true });
  } catch (err) {
    throw new Error(`--from: cannot read ${lockDb}: ${(err as Error).message}`);
  }
  try {
    db.run("PRAGMA busy_timeout = 0");
    db.run("BEGIN");
    db.query("SELECT count(*) AS n FROM sqlite_master").get();
  } catch (err) {
    db.close();
    if (sqliteCode(err).startsWith("SQLITE_BUSY")) {
      let holder = "";
      try {
        const pid = Number(readFileSync(join(dir, "lock"), "utf8").trim().split(/\s+/)[0]);
        if (Number.isInteger(pid) && pid > 0) holder = ` (pid ${pid})`;
      } catch {
        // The pid is only for the message.
      }
      throw new Error(`--from: ${dir} is in use by a running cache-host${holder}; stop it, then migrate`);
    }
    throw new Error(`--from: cannot read ${lockDb}: ${(err as Error).message}`);
  }
  return () => {
    try {
      db.run("COMMIT");
    } finally {
      db.close();
    }
  };
}

/**
 * withcache.db, opened so nothing in the dir is written. Without a write-ahead log (a cache-host
 * that stopped) it is opened read-only and immutable; with one (a cache-host that was killed
 * leaves committed rows in withcache.db-wal), the database and its log are copied to a private
 * temp dir first and read there.
 */
function openSource(dir: string): { db: Database; close: () => void } {
  const path = join(dir, "withcache.db");
  if (!existsSync(path)) throw new Error(`--from: ${dir} holds no withcache database (no withcache.db)`);
  const wal = `${path}-wal`;
  const walBytes = existsSync(wal) ? statSync(wal).size : 0;
  try {
    if (walBytes === 0) {
      const db = new Database(sqliteUri(path, "immutable=1"), sqliteConstants.SQLITE_OPEN_READONLY | sqliteConstants.SQLITE_OPEN_URI);
      return { db, close: () => db.close() };
    }
    const temp = mkdtempSync(join(tmpdir(), "withcache-migrate-"));
    try {
      copyFileSync(path, join(temp, "withcache.db"));
      copyFileSync(wal, join(temp, "withcache.db-wal"));
      const db = new Database(join(temp, "withcache.db"), { readonly: true });
      return {
        db,
        close: () => {
          db.close();
          rmSync(temp, { recursive: true, force: true });
        },
      };
    } catch (err) {
      rmSync(temp, { recursive: true, force: true });
      throw err;
    }
  } catch (err) {
    throw new Error(`--from: cannot open ${path} read-only: ${(err as Error).message}`);
  }
}

function checkSchema(db: Database, dir: string): void {
  const { user_version: version } = db.query("PRAGMA user_version").get() as { user_version: number };
  if (version < SCHEMA_VERSION) {
    throw new Error(`--from: ${dir}/withcache.db has schema ${version}, older than this withcache's ${SCHEMA_VERSION}; run withcache serve once on it to upgrade, then migrate`);
  }
  if (version > SCHEMA_VERSION) {
    throw new Error(`--from: ${dir}/withcache.db has schema ${version}, newer than this withcache knows (${SCHEMA_VERSION}); migrate with the withcache that wrote it`);
  }
}

async function connectDatabase(raw: string): Promise<{ sql: SQL; shown: string }> {
  let parsed;
  try {
    parsed = parseDatabaseUrl(raw);
  } catch (err) {
    throw new Error(`--database: ${(err as Error).message}`);
  }
  if (parsed.kind !== "postgres") throw new Error("--database: migrate copies into PostgreSQL; expected postgres://user:password@host:port/database");
  const sql = new SQL(parsed.url, { max: 2, connectionTimeout: CONNECT_TIMEOUT_S });
  try {
    await sql`SELECT 1`;
    await migratePostgres(sql);
  } catch (err) {
    await sql.close().catch(() => {});
    const message = (err as Error).message ?? "";
    // migratePostgres words its own refusal (a newer schema); everything else is the connection's.
    if (message.startsWith("--database:")) throw err;
    throw new Error(`--database: cannot use ${parsed.shown}: ${databaseError(err).message}`);
  }
  return { sql, shown: parsed.shown };
}

async function connectTarget(raw: string, env: Record<string, string | undefined>): Promise<S3Bucket> {
  const bucket = raw.trim() === "" ? null : await connectBucket(raw, env);
  if (bucket === null) throw new Error("--blob-store: migrate copies into a bucket; expected s3://bucket/prefix (or WITHCACHE_BLOB_STORE)");
  return bucket;
}

/** Hash a stream; returns the digest and the length. */
async function hashStream(stream: ReadableStream<Uint8Array>, onBytes: (n: number) => void): Promise<{ sha256: string; sizeBytes: number }> {
  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    hasher.update(chunk);
    size += chunk.byteLength;
    onBytes(chunk.byteLength);
  }
  return { sha256: hasher.digest("hex"), sizeBytes: size };
}

class Copier {
  readonly counts = emptyCounts();
  /** sha256 → the outcome of putting its object in place (one upload per blob, however many keys). */
  private readonly blobs = new Map<string, Promise<"uploaded" | "present">>();
  /** Bytes streamed by uploads and hashes in flight (progress inside a batch). */
  private streaming = 0;

  constructor(
    private readonly dir: string,
    private readonly bucket: S3Bucket,
    private readonly sql: SQL,
    private readonly onProblem: (line: string) => void,
  ) {}

  bytesInFlight(): number {
    return this.streaming;
  }

  private blobPath(sha256: string): string {
    return join(this.dir, "blobs", sha256.slice(0, 2), sha256);
  }

  /** Put the blob's object in place once; a refusal or failure is shared by every key of the blob. */
  ensureBlob(sha256: string, sizeBytes: number): Promise<"uploaded" | "present"> {
    let job = this.blobs.get(sha256);
    if (job === undefined) {
      job = this.putBlob(sha256, sizeBytes);
      this.blobs.set(sha256, job);
    }
    return job;
  }

  private async putBlob(sha256: string, sizeBytes: number): Promise<"uploaded" | "present"> {
    const object = this.bucket.client.file(this.bucket.keyOf(sha256));
    if (await this.objectIsRight(object, sha256, sizeBytes)) {
      this.counts.blobsPresent += 1;
      return "present";
    }
    const path = this.blobPath(sha256);
    let fileBytes: number;
    try {
      fileBytes = statSync(path).size;
    } catch {
      throw new BlobRefused(`blob file ${path} is missing`);
    }
    if (fileBytes !== sizeBytes) throw new BlobRefused(`blob file ${path} is ${fileBytes} bytes, expected ${sizeBytes}`);
    let last: unknown = null;
    for (let attempt = 0; attempt < UPLOAD_ATTEMPTS; attempt++) {
      if (attempt > 0) await Bun.sleep(UPLOAD_RETRY_MS[attempt - 1] ?? 2000);
      try {
        await this.upload(object, path, sha256, sizeBytes);
        const stored = (await object.stat()).size;
        if (stored !== sizeBytes) throw new Error(`the bucket holds ${stored} bytes of ${sizeBytes} after the upload`);
        this.counts.blobsUploaded += 1;
        this.counts.bytesUploaded += sizeBytes;
        return "uploaded";
      } catch (err) {
        if (err instanceof BlobRefused) throw err;
        last = err;
      }
    }
    throw new Error(`--blob-store: cannot upload ${sha256} to ${this.bucket.describe()}: ${s3Reason(last)}`);
  }

  /** The object exists at the right size and its bytes hash to its name. */
  private async objectIsRight(object: Bun.S3File, sha256: string, sizeBytes: number): Promise<boolean> {
    let size: number;
    try {
      size = (await object.stat()).size; // one HEAD
    } catch (err) {
      if ((err as { code?: unknown }).code === "NoSuchKey") return false;
      throw new Error(`--blob-store: cannot read ${this.bucket.describe()}: ${s3Reason(err)}`);
    }
    if (size !== sizeBytes) return false;
    let streamed = 0;
    try {
      const got = await hashStream(object.stream(), (n) => {
        streamed += n;
        this.streaming += n;
      });
      return got.sizeBytes === sizeBytes && got.sha256 === sha256;
    } catch (err) {
      throw new Error(`--blob-store: cannot read ${this.bucket.describe()}: ${s3Reason(err)}`);
    } finally {
      this.streaming -= streamed;
    }
  }

  /**
   * Stream the file into the object, hashing on the way. The last read checks length and sha256
   * before the stream ends: on a mismatch the stream errors, and Bun aborts the upload (a single
   * PUT is never sent whole, a multipart upload is never completed), so no object of a wrong
   * content ever appears under the sha256's name.
   */
  private async upload(object: Bun.S3File, path: string, sha256: string, sizeBytes: number): Promise<void> {
    const hasher = new Bun.CryptoHasher("sha256");
    const reader = Bun.file(path).stream().getReader();
    let count = 0;
    let refusal: BlobRefused | null = null;
    const body = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const { done, value } = await reader.read();
          if (done) {
            const got = hasher.digest("hex");
            if (count === sizeBytes && got === sha256) controller.close();
            else {
              refusal = new BlobRefused(`blob file ${path} hashes to ${got} (${count} bytes), not to its sha256; the file is damaged`);
              controller.error(refusal);
            }
            return;
          }
          hasher.update(value);
          count += value.byteLength;
          this.streaming += value.byteLength;
          controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 },
    );
    try {
      await object.write(new Response(body));
    } catch (err) {
      throw refusal ?? err;
    } finally {
      this.streaming -= count;
    }
    if (refusal !== null) throw refusal;
  }

  /** One batch: blobs in place (bounded concurrency), then the rows of the good ones in one transaction. */
  async copyBatch(rows: SourceArtifact[]): Promise<void> {
    const existing = new Set(
      ((await this.sql`SELECT key FROM artifacts WHERE key = ANY(${rows.map((r) => r.key)}::text[])`) as Array<{ key: string }>).map((r) => r.key),
    );
    const todo: SourceArtifact[] = [];
    for (const r of rows) {
      if (existing.has(r.key)) {
        this.counts.alreadyThere += 1;
        this.done(r);
      } else todo.push(r);
    }
    const good: SourceArtifact[] = [];
    await forEachLimited(todo, UPLOADS_INFLIGHT_MAX, async (r) => {
      try {
        await this.ensureBlob(r.sha256, r.size_bytes);
        good.push(r);
      } catch (err) {
        if (!(err instanceof BlobRefused)) throw err;
        this.counts.refused += 1;
        this.done(r);
        this.onProblem(`migrate: ${loggableUrl(r.url)} not copied: ${err.message}`);
      }
    });
    if (good.length === 0) return;
    const shas = [...new Set(good.map((r) => r.sha256))].sort();
    const { inserted, gone } = await this.sql.begin(async (tx) => {
      // The blobs' locks first, as a replica's row commit takes them (pg-schema.ts: lockBlobs;
      // sorted, so two runs never wait on each other in a cycle): from here no running replica can
      // delete one of these objects until the rows are in. One it deleted since the upload (it
      // evicted the same bytes under another key) gets no row.
      await lockBlobs(tx, shas);
      const missing = await this.missingObjects(shas);
      const values = good.filter((r) => !missing.has(r.sha256)).map((r) => ({ ...r, redirected: r.redirected === 1, superseded: r.superseded === 1 }));
      // Then the changes lock, which every writer takes (migration 2): change ids commit in order.
      await tx`SELECT pg_advisory_xact_lock(${CHANGES_LOCK_KEY})`;
      const rows = values.length === 0 ? [] : ((await tx`INSERT INTO artifacts ${tx(values)} ON CONFLICT (key) DO NOTHING RETURNING key`) as Array<{ key: string }>);
      return { inserted: rows, gone: good.filter((r) => missing.has(r.sha256)) };
    });
    for (const r of gone) {
      this.counts.refused += 1;
      this.onProblem(`migrate: ${loggableUrl(r.url)} not copied: a running cache-host deleted its object during the copy; run migrate again`);
    }
    this.counts.copied += inserted.length;
    this.counts.alreadyThere += good.length - gone.length - inserted.length;
    for (const r of good) this.done(r);
  }

  /** Which of these objects are not in the bucket now (HEADs, a few at a time). */
  private async missingObjects(shas: readonly string[]): Promise<Set<string>> {
    const missing = new Set<string>();
    await forEachLimited(shas, UPLOADS_INFLIGHT_MAX, async (sha) => {
      if (!(await this.bucket.client.file(this.bucket.keyOf(sha)).exists())) missing.add(sha);
    });
    return missing;
  }

  private done(r: SourceArtifact): void {
    this.counts.artifactsDone += 1;
    this.counts.bytesDone += r.size_bytes;
  }

  async copyMisses(db: Database): Promise<void> {
    let after = "";
    for (;;) {
      const page = db.query("SELECT * FROM misses WHERE key > $after ORDER BY key LIMIT $limit").all({ after, limit: ROWS_PAGE }).map((r) => SourceMiss.parse(r));
      if (page.length === 0) return;
      const inserted = await this.sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${CHANGES_LOCK_KEY})`;
        // A key the database has an artifact of is no miss there (a replica filled it since).
        const cached = new Set(((await tx`SELECT key FROM artifacts WHERE key = ANY(${page.map((m) => m.key)}::text[])`) as Array<{ key: string }>).map((r) => r.key));
        const misses = page.filter((m) => !cached.has(m.key));
        if (misses.length === 0) return [];
        return (await tx`INSERT INTO misses ${tx(misses)} ON CONFLICT (key) DO NOTHING RETURNING key`) as unknown[];
      });
      this.counts.missesCopied += inserted.length;
      this.counts.missesAlreadyThere += page.length - inserted.length;
      after = page[page.length - 1]!.key;
      if (page.length < ROWS_PAGE) return;
    }
  }

  /** API tokens by their sha256 (the token itself was never stored). A name another token holds there is refused. */
  async copyTokens(db: Database): Promise<void> {
    const tokens = db.query("SELECT name, scope, token_sha256, hint, created_at_ms, last_used_ms FROM api_tokens ORDER BY id").all().map((r) => SourceToken.parse(r));
    for (const t of tokens) {
      const inserted = (await this.sql`INSERT INTO api_tokens ${this.sql(t)} ON CONFLICT DO NOTHING RETURNING id`) as unknown[];
      if (inserted.length > 0) {
        this.counts.tokensCopied += 1;
        continue;
      }
      const same = (await this.sql`SELECT 1 FROM api_tokens WHERE token_sha256 = ${t.token_sha256}`) as unknown[];
      if (same.length > 0) this.counts.tokensAlreadyThere += 1;
      else {
        this.counts.tokensRefused += 1;
        this.onProblem(`migrate: token "${t.name}" not copied: the database has another token of that name; revoke one of them and run migrate again`);
      }
    }
  }
}

/** Copy `from` into the database and the bucket; see the file's comment for the guarantees. */
export async function migrateDataDir(options: MigrateOptions): Promise<MigrateResult> {
  const dir = resolve(options.from);
  const onProblem = options.onProblem ?? (() => {});
  const hide = (text: string): string => {
    let out = hidePassword(text, options.database);
    const secret = options.env.AWS_SECRET_ACCESS_KEY;
    if (secret) out = out.split(secret).join("***");
    return out;
  };
  try {
    if (!existsSync(dir)) throw new Error(`--from: ${dir} does not exist`);
    const release = holdSourceLock(dir);
    try {
      const source = openSource(dir);
      try {
        checkSchema(source.db, dir);
        const bucket = await connectTarget(options.blobStore, options.env);
        const { sql, shown } = await connectDatabase(options.database);
        try {
          const copier = new Copier(dir, bucket, sql, onProblem);
          const counts = copier.counts;
          const totals = source.db.query("SELECT count(*) AS n, coalesce(sum(size_bytes), 0) AS bytes FROM artifacts").get() as { n: number; bytes: number };
          counts.artifactsTotal = totals.n;
          counts.bytesTotal = totals.bytes;
          const every = options.progressEveryMs ?? 1000;
          let lastLineMs = 0;
          let lastShown = "";
          const report = (force: boolean): void => {
            const now = Date.now();
            if (!force && now - lastLineMs < every) return;
            const shown = { ...counts, bytesDone: counts.bytesDone + copier.bytesInFlight() };
            // The same numbers twice in a row say nothing new.
            const text = JSON.stringify(shown);
            if (text === lastShown) return;
            lastLineMs = now;
            lastShown = text;
            options.onProgress?.(shown);
          };
          const timer = setInterval(() => report(false), every);
          try {
            await copier.copyTokens(source.db);
            await copier.copyMisses(source.db);
            const batchMax = options.batchArtifactsMax ?? BATCH_ARTIFACTS_MAX;
            const page = source.db.query("SELECT * FROM artifacts WHERE key > $after ORDER BY key LIMIT $limit");
            let after = "";
            let first = true;
            for (;;) {
              const rows = page.all({ after, limit: batchMax }).map((r) => SourceArtifact.parse(r));
              if (rows.length === 0) break;
              // Cut the page where its bytes pass the batch bound (at least one artifact).
              let bytes = 0;
              let n = 0;
              while (n < rows.length && (n === 0 || bytes + rows[n]!.size_bytes <= BATCH_BYTES_MAX)) bytes += rows[n++]!.size_bytes;
              const batch = rows.slice(0, n);
              await copier.copyBatch(batch);
              after = batch[batch.length - 1]!.key;
              report(first);
              first = false;
            }
          } finally {
            clearInterval(timer);
          }
          report(true);
          return { counts, database: shown, blobStore: bucket.describe(), from: dir };
        } finally {
          await sql.close().catch(() => {});
        }
      } finally {
        source.close();
      }
    } finally {
      release();
    }
  } catch (err) {
    throw new Error(hide(err instanceof Error ? err.message : String(err)).split("\n")[0]);
  }
}

/** Run `fn` over `items` with at most `limit` at a time; the first rejection rejects the whole. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
