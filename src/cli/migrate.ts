// `withcache migrate`: copy an embedded data dir into PostgreSQL + an S3 bucket (src/store/migrate.ts).
// Progress on stderr, the summary on stdout; exit 1 when any artifact or token was not copied.
import { type Command, Option } from "commander";
import { progressLine, summaryLine } from "../core/migrate-report.ts";
import { BATCH_ARTIFACTS_MAX, migrateDataDir } from "../store/migrate.ts";

/** A batch's rows go in one INSERT: keep it well under PostgreSQL's 65535 bind parameters (18 a row). */
const BATCH_LIMIT = 1000;

export function registerMigrate(program: Command): void {
  program
    .command("migrate")
    .description("copy an embedded data dir (stopped cache-host) into PostgreSQL and an S3 bucket; idempotent, resumable, leaves the source untouched")
    .requiredOption("--from <dir>", "the embedded cache-host's data dir (read only; the cache-host must be stopped)")
    .addOption(new Option("--database <url>", "the PostgreSQL to copy the rows into, postgres://user:password@host:port/db (prefer the environment variable: a flag shows in ps)").env("WITHCACHE_DATABASE"))
    .addOption(new Option("--blob-store <url>", "the bucket to copy the blobs into, s3://bucket/prefix (AWS_* variables as for serve)").env("WITHCACHE_BLOB_STORE"))
    .option("--batch-size <n>", "artifacts per batch: their blobs are uploaded, then their rows inserted in one transaction (default: 32)")
    .action(async (opts: { from: string; database?: string; blobStore?: string; batchSize?: string }) => {
      const batch = opts.batchSize === undefined ? BATCH_ARTIFACTS_MAX : Number(opts.batchSize);
      if (!Number.isInteger(batch) || batch < 1 || batch > BATCH_LIMIT) throw new Error(`--batch-size: ${JSON.stringify(opts.batchSize)} is not a count; expected 1 to ${BATCH_LIMIT}`);
      if (!opts.database) throw new Error("--database: migrate needs the PostgreSQL to copy into: --database postgres://user:password@host:port/db or WITHCACHE_DATABASE");
      if (!opts.blobStore) throw new Error("--blob-store: migrate needs the bucket to copy into: --blob-store s3://bucket/prefix or WITHCACHE_BLOB_STORE");
      const result = await migrateDataDir({
        from: opts.from,
        database: opts.database,
        blobStore: opts.blobStore,
        env: process.env,
        batchArtifactsMax: batch,
        onProgress: (counts) => process.stderr.write(`${progressLine(counts)}\n`),
        onProblem: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${summaryLine(result.counts, { from: result.from, database: result.database, blobStore: result.blobStore })}\n`);
      // Exit now: the bucket check's bounded waits would keep the process alive for their full timeout.
      process.exit(result.counts.refused > 0 || result.counts.tokensRefused > 0 ? 1 : 0);
    });
}
