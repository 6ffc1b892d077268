import { expect, test } from "bun:test";
import { emptyCounts, progressLine, summaryLine } from "./migrate-report.ts";

const where = { from: "/srv/withcache", database: "postgres://wc:***@db/withcache", blobStore: "s3://lab/cache/ at http://s3:7070" };

test("the progress line counts artifacts and bytes, and names refusals only when there are some", () => {
  const c = { ...emptyCounts(), artifactsTotal: 500, bytesTotal: 10 * 1024 ** 3, artifactsDone: 120, bytesDone: 3.2 * 1024 ** 3, copied: 118, alreadyThere: 2 };
  expect(progressLine(c)).toBe("migrate: 120/500 artifacts, 3.2 GiB of 10 GiB, 118 copied, 2 already there");
  expect(progressLine({ ...c, refused: 1 })).toBe("migrate: 120/500 artifacts, 3.2 GiB of 10 GiB, 118 copied, 2 already there, 1 refused");
  // Bytes in flight never show more than the total.
  expect(progressLine({ ...c, bytesDone: 11 * 1024 ** 3 })).toContain("10 GiB of 10 GiB");
});

test("the summary says what was copied, or that nothing needed copying", () => {
  const done = { ...emptyCounts(), artifactsTotal: 3, bytesTotal: 3072, copied: 3, blobsUploaded: 2, bytesUploaded: 2048, tokensCopied: 1, missesCopied: 4 };
  expect(summaryLine(done, where)).toBe(
    "migrate: /srv/withcache → postgres://wc:***@db/withcache + s3://lab/cache/ at http://s3:7070: 3 artifacts (3.0 KiB): 3 copied, 0 already there, 0 refused; 2 blobs uploaded (2.0 KiB), 0 already in the bucket; tokens: 1 copied, 0 already there; misses: 4 copied, 0 already there",
  );
  const again = { ...emptyCounts(), artifactsTotal: 1, alreadyThere: 1, tokensAlreadyThere: 2, missesAlreadyThere: 1 };
  expect(summaryLine(again, where)).toBe("migrate: nothing to copy: all 1 artifact, 2 tokens and 1 miss of /srv/withcache are already in postgres://wc:***@db/withcache and s3://lab/cache/ at http://s3:7070");
  // A refusal is never "nothing to copy".
  expect(summaryLine({ ...again, refused: 1 }, where)).toContain("1 refused");
});
