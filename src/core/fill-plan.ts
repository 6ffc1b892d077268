// The "plan" stage of a fill: from what is on disk and what is cached, which request to send.
// Pure. The stages of a fill, each with one job (src/fetch/fill-manager.ts carries them out):
//   plan (here) → open the origin → decide (origin-answer.ts) → stream to disk while hashing →
//   verify (length, sha256) → commit (rename, then the row).
// A revalidation is a fill whose plan is conditional: a 304 ends it at "decide", a 200 streams.
import { conditionalHeaders, type Freshness } from "./freshness.ts";

export type FillPlanInput = {
  /** Bytes in the job's temp file now (0: none). */
  tempBytes: number;
  /** The whole body's length, as the answer the temp file came from announced it (null: unknown). */
  totalBytes: number | null;
  /** The validator the temp file was fetched under (null: none, the prefix cannot be trusted). */
  validator: string | null;
  /**
   * Bytes of the temp file known to be fsynced, and where they were written: the job's stamp
   * (tempStamp: the boot, and with a shared queue the data dir) against this process's own.
   */
  syncedBytes: number;
  jobBootId: string | null;
  /** This process's stamp now (null: boot unknown). */
  bootId: string | null;
  /** The cached copy's validators, when the key has a copy we may keep (null: none or superseded). */
  cached: Pick<Freshness, "etag" | "lastModified"> | null;
  version: string;
};

export type FillPlan = {
  /** Resume from this byte (0: from the start). */
  offsetBytes: number;
  /** Cut the temp file to this many bytes first, and why (for the log). */
  truncateToBytes: number | null;
  truncateReason: string | null;
  headers: Record<string, string>;
  /** The validators sent for a revalidation (null when not sent). */
  sentEtag: string | null;
  sentLastModified: string | null;
};

/**
 * Where a temp file's bytes are written: the machine's boot and, with a queue shared by several
 * cache-hosts, which data dir (each has its own temp files, and the job's row describes the last
 * one that wrote its temp). `<boot>` alone, or `<boot>/<writer>`; "unknown" for an unknown boot.
 */
export function tempStamp(bootId: string | null, writer: string | null): string | null {
  if (writer === null) return bootId;
  return `${bootId ?? "unknown"}/${writer}`;
}

function parseStamp(stamp: string | null): { boot: string | null; writer: string | null } {
  if (stamp === null) return { boot: null, writer: null };
  const slash = stamp.indexOf("/");
  if (slash < 0) return { boot: stamp, writer: null };
  const boot = stamp.slice(0, slash);
  return { boot: boot === "unknown" ? null : boot, writer: stamp.slice(slash + 1) };
}

export function planFill(p: FillPlanInput): FillPlan {
  let offsetBytes = p.validator === null ? 0 : p.tempBytes; // an unprovable prefix starts over
  let truncateToBytes: number | null = null;
  let truncateReason: string | null = null;
  const job = parseStamp(p.jobBootId);
  const here = parseStamp(p.bootId);
  if (offsetBytes > 0 && job.writer !== null && job.writer !== here.writer) {
    // Another cache-host wrote the job's last bytes (and its validator, length and synced count
    // describe its temp file): a temp left here by an earlier attempt may be another version.
    offsetBytes = 0;
    truncateToBytes = 0;
    truncateReason = "another cache-host ran the job since this temp file was written";
  } else if (offsetBytes > p.syncedBytes && (here.boot === null || job.boot !== here.boot)) {
    // Written in another boot (the machine went down): bytes past the last fsync may be zeros
    // or garbage on disk. Trust only the synced prefix.
    offsetBytes = p.syncedBytes;
    truncateToBytes = p.syncedBytes;
    truncateReason = "written before a reboot";
  }
  if (offsetBytes > 0 && p.totalBytes !== null && offsetBytes >= p.totalBytes) {
    // The whole body is here already (its upload or row commit failed): ask for the last byte
    // again. A resume from the end would get a 416, which carries none of the headers the commit
    // records (type, validators, freshness); a 206 of one byte carries them all.
    offsetBytes = Math.max(0, p.totalBytes - 1);
    truncateToBytes = offsetBytes;
    truncateReason = "the whole body is here: its last byte is asked again for the origin's headers";
  }
  const headers: Record<string, string> = {
    "accept-encoding": "identity", // cache the representation itself, byte for byte
    "user-agent": `withcache/${p.version}`,
  };
  if (offsetBytes > 0 && p.validator !== null) {
    headers.range = `bytes=${offsetBytes}-`;
    headers["if-range"] = p.validator;
  }
  // A key with a copy we may keep is asked about conditionally (a 304 moves no body); a resume
  // is not (it continues a body the origin already chose to send).
  const sent = offsetBytes === 0 && p.cached !== null ? conditionalHeaders(p.cached) : {};
  Object.assign(headers, sent);
  return { offsetBytes, truncateToBytes, truncateReason, headers, sentEtag: sent["if-none-match"] ?? null, sentLastModified: sent["if-modified-since"] ?? null };
}
