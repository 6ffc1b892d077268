// The probe path answers from in-memory artifact rows and batched miss counts: a delete must turn
// the next probe into a miss at once, a refill must show its new bytes, and misses counted while
// buffered must end up on the artifact.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { blobUrl, pollUntil, sha256Hex, startOrigin, startTestServer, type Origin } from "./helpers/index.ts";

let version = 1;
const body = (): string => `version ${version} of the artifact\n`;
let origin: Origin;

beforeAll(() => {
  origin = startOrigin(() => new Response(body()));
});
afterAll(async () => {
  await origin.stop();
});

const head = (url: string) => fetch(url, { method: "HEAD" });

describe("probe path caches", () => {
  test("delete → the next probe is a miss; refill → the new sha256", async () => {
    const s = await startTestServer();
    try {
      const originUrl = `${origin.url}/changing.bin`;
      const url = blobUrl(s.url, originUrl);
      version = 1;
      await (await fetch(url)).text();
      const first = await pollUntil(async () => ((r) => (r.status === 200 && r.headers.get("x-withcache-filling") === null ? r : null))(await head(url)), { what: "first fill" });
      expect(first.headers.get("x-withcache-sha256")).toBe(sha256Hex(body()));
      expect((await s.running.ctx.store.deleteArtifact(originUrl)).deleted).toBe(true);
      version = 2;
      const afterDelete = await head(url); // a miss at once (and, in auto mode, a refill queued)
      expect(afterDelete.status).toBe(404);
      const second = await pollUntil(async () => ((r) => (r.status === 200 && r.headers.get("x-withcache-filling") === null ? r : null))(await head(url)), { what: "refill" });
      expect(second.headers.get("x-withcache-sha256")).toBe(sha256Hex(body()));
      const got = await fetch(url);
      expect(await got.text()).toBe("version 2 of the artifact\n");
    } finally {
      await s.stop();
    }
  });

  test("misses counted while buffered move into the artifact when it is filled", async () => {
    const s = await startTestServer({ curate: true });
    try {
      const originUrl = `${origin.url}/counted.bin`;
      for (let i = 0; i < 3; i += 1) expect((await head(blobUrl(s.url, originUrl))).status).toBe(404);
      const queued = await s.running.ctx.fills.enqueue(originUrl, { source: "operator" });
      expect(queued.ok).toBe(true);
      const artifact = await pollUntil(() => s.running.ctx.store.metadata.getArtifact(originUrl), { what: "operator fill" });
      expect(artifact.misses).toBe(3);
      expect(s.running.ctx.store.metadata.getMiss(originUrl)).toBeNull();
      // Misses after the fill are hits; nothing buffered turns up later as a stray miss row.
      expect((await head(blobUrl(s.url, originUrl))).status).toBe(200);
      expect(s.running.ctx.store.metadata.listMisses().filter((m) => m.key === originUrl)).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});
