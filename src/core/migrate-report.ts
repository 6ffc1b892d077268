// `withcache migrate`: the counts it keeps and the lines it prints about them (progress on stderr,
// the summary on stdout). Pure: the store's copier fills the counts, the CLI prints the lines.
import { formatSize } from "./size.ts";

export type MigrateCounts = {
  /** Artifact rows in the source, and their bytes (each row's size: a shared blob counts per row). */
  artifactsTotal: number;
  bytesTotal: number;
  /** Artifacts dealt with so far (copied, already there or refused), and their bytes (plus bytes streamed of the ones in flight). */
  artifactsDone: number;
  bytesDone: number;
  /** Rows inserted into the database by this run. */
  copied: number;
  /** Rows the database held already (an earlier run, or a replica that filled the key since). */
  alreadyThere: number;
  /** Artifacts not copied: their blob file is missing or its bytes do not match the row. */
  refused: number;
  /** Blob objects this run uploaded (a blob shared by several keys once), and their bytes. */
  blobsUploaded: number;
  bytesUploaded: number;
  /** Blob objects found in the bucket already, at the right size and hashing to their name. */
  blobsPresent: number;
  tokensCopied: number;
  tokensAlreadyThere: number;
  tokensRefused: number;
  missesCopied: number;
  missesAlreadyThere: number;
};

export function emptyCounts(): MigrateCounts {
  return {
    artifactsTotal: 0,
    bytesTotal: 0,
    artifactsDone: 0,
    bytesDone: 0,
    copied: 0,
    alreadyThere: 0,
    refused: 0,
    blobsUploaded: 0,
    bytesUploaded: 0,
    blobsPresent: 0,
    tokensCopied: 0,
    tokensAlreadyThere: 0,
    tokensRefused: 0,
    missesCopied: 0,
    missesAlreadyThere: 0,
  };
}

/** `migrate: 120/500 artifacts, 3.2 GiB of 10 GiB, 118 copied, 2 already there` (`, 1 refused` when some were). */
export function progressLine(c: MigrateCounts): string {
  const bytes = Math.min(c.bytesDone, c.bytesTotal);
  const refused = c.refused > 0 ? `, ${c.refused} refused` : "";
  return `migrate: ${c.artifactsDone}/${c.artifactsTotal} artifacts, ${formatSize(bytes)} of ${formatSize(c.bytesTotal)}, ${c.copied} copied, ${c.alreadyThere} already there${refused}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The last line, on stdout: what was copied, or that nothing needed copying. */
export function summaryLine(c: MigrateCounts, where: { from: string; database: string; blobStore: string }): string {
  const refused = c.refused + c.tokensRefused;
  const nothing = c.copied === 0 && c.blobsUploaded === 0 && c.tokensCopied === 0 && c.missesCopied === 0;
  if (nothing && refused === 0) {
    return `migrate: nothing to copy: all ${plural(c.artifactsTotal, "artifact")}, ${plural(c.tokensAlreadyThere, "token")} and ${plural(c.missesAlreadyThere, "miss", "misses")} of ${where.from} are already in ${where.database} and ${where.blobStore}`;
  }
  const parts = [
    `${plural(c.artifactsTotal, "artifact")} (${formatSize(c.bytesTotal)}): ${c.copied} copied, ${c.alreadyThere} already there, ${c.refused} refused`,
    `${plural(c.blobsUploaded, "blob")} uploaded (${formatSize(c.bytesUploaded)}), ${c.blobsPresent} already in the bucket`,
    `tokens: ${c.tokensCopied} copied, ${c.tokensAlreadyThere} already there${c.tokensRefused > 0 ? `, ${c.tokensRefused} refused` : ""}`,
    `misses: ${c.missesCopied} copied, ${c.missesAlreadyThere} already there`,
  ];
  return `migrate: ${where.from} → ${where.database} + ${where.blobStore}: ${parts.join("; ")}`;
}
