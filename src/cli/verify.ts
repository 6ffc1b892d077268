// `withcache verify`: re-hash every stored blob against its sha256. Exit 0 when all match, 1 when
// any is bad (also after --repair removed them, so monitoring sees that it happened).
import { resolve } from "node:path";
import { type Command, Option } from "commander";
import { loggableUrl } from "../core/log.ts";
import { formatSize } from "../core/size.ts";
import { verifyBlobs } from "../store/verify.ts";

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description("re-hash every cached blob and report any whose bytes no longer match their sha256")
    .addOption(new Option("--data-dir <dir>", "the cache-host's data dir").env("WITHCACHE_DATA_DIR").default("./data"))
    .addOption(new Option("--blob-store <url>", "the cache-host's blob store, when it is s3://bucket/prefix (AWS_* variables as for serve)").env("WITHCACHE_BLOB_STORE"))
    .addOption(new Option("--database <url>", "the replicas' postgres://… database, when the rows are there (the data dir then only holds a replica's local copies)").env("WITHCACHE_DATABASE"))
    .option("--repair", "remove bad blobs and their artifacts so they are fetched again (the cache-host must be stopped)")
    .action(async (opts: { dataDir: string; repair?: boolean; blobStore?: string; database?: string }) => {
      const dataDir = opts.dataDir;
      const report = await verifyBlobs(dataDir, {
        repair: opts.repair === true,
        blobStore: opts.blobStore ?? "",
        database: opts.database ?? "",
        onProgress: (bad) => {
          const keys = bad.keys.map(loggableUrl).join(" ");
          process.stdout.write(`bad ${bad.sha256}: ${bad.problem} (${keys})${opts.repair ? "; removed" : ""}\n`);
        },
      });
      process.stdout.write(`verified ${report.blobs} blobs (${formatSize(report.bytes)}): ${report.bad.length} bad${report.repaired && report.bad.length > 0 ? ", removed" : ""}\n`);
      if (report.bad.length > 0 && !report.repaired) {
        // stdout stays the report (cron mails, scripts); the way out goes to stderr.
        const same = [opts.database ? "--database" : "", opts.blobStore ? "--blob-store" : ""].filter(Boolean).join(" and ");
        process.stderr.write(`withcache: to have them fetched again, stop the cache-host and run: withcache verify --repair --data-dir ${resolve(dataDir)}${same ? ` (with the same ${same})` : ""}\n`);
      }
      if (report.bad.length > 0) process.exit(1);
    });
}
