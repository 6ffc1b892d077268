// One contract for every BlobStore: the directory store and the S3 store (against a real S3
// server, versitygw on loopback) run the same cases. Where they differ, the case says why.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { LocalBlobStore } from "../src/store/local-blobs.ts";
import { S3Bucket, S3BlobStore } from "../src/store/s3-blobs.ts";
import { processRefs } from "../src/store/store.ts";
import type { BlobStore } from "../src/store/types.ts";
import { makeTempDir, pollUntil, sha256Hex, type TempDir } from "./helpers/index.ts";
import { startS3Server, type S3Server } from "./helpers/s3.ts";

let s3: S3Server;
let bucketCounter = 0;
const dirs: TempDir[] = [];
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  for (const d of dirs) d.cleanup();
  await s3?.stop();
});

type Made = { store: BlobStore; referenced: Set<string>; /** The blob's bytes as the backing store holds them (file or object), or null. */ stored(sha: string): Promise<Uint8Array | null> };

async function makeLocal(): Promise<Made> {
  const dir = makeTempDir("withcache-blobs-");
  dirs.push(dir);
  const referenced = new Set<string>();
  const store = new LocalBlobStore(dir.path, (sha) => referenced.has(sha));
  return {
    store,
    referenced,
    async stored(sha) {
      const path = `${dir.path}/blobs/${sha.slice(0, 2)}/${sha}`;
      return existsSync(path) ? new Uint8Array(await Bun.file(path).arrayBuffer()) : null;
    },
  };
}

async function makeS3(localCacheBytes = 1024 * 1024): Promise<Made> {
  const dir = makeTempDir("withcache-blobs-");
  dirs.push(dir);
  const name = `contract-${process.pid}-${++bucketCounter}`;
  await s3.createBucket(name);
  const bucket = new S3Bucket({ kind: "s3", bucket: name, prefix: "p/" }, { ...s3, endpointGiven: true });
  await bucket.check();
  const referenced = new Set<string>();
  const store = new S3BlobStore(bucket, dir.path, { refs: processRefs((sha) => referenced.has(sha)), localCacheBytes, remote: await bucket.listBlobs() });
  return {
    store,
    referenced,
    async stored(sha) {
      const object = bucket.client.file(`p/sha256/${sha}`);
      return (await object.exists()) ? await object.bytes() : null;
    },
  };
}

let tempCounter = 0;
async function writeTemp(store: BlobStore, text: string): Promise<{ name: string; sha: string; bytes: Uint8Array }> {
  const name = `t-${++tempCounter}`;
  const bytes = new TextEncoder().encode(text);
  const temp = await store.openTemp(name, { truncate: true });
  await temp.write(bytes);
  await temp.sync();
  await temp.close();
  return { name, sha: sha256Hex(bytes), bytes };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

for (const [kind, make] of [["directory", makeLocal], ["s3", () => makeS3()]] as const) {
  describe(`BlobStore contract (${kind})`, () => {
    test("commitTemp: the blob is complete in the store when the row commit runs; its result comes back", async () => {
      const { store, stored } = await make();
      const t = await writeTemp(store, "hello blob\n");
      let seenInside: number | null = -1;
      const result = await store.commitTemp(t.name, t.sha, async () => {
        seenInside = store.sizeOf(t.sha);
        return "row-1";
      });
      expect(result).toBe("row-1");
      expect(seenInside as number | null).toBe(t.bytes.byteLength);
      expect(await stored(t.sha)).toEqual(t.bytes);
      expect(store.tempSize(t.name)).toBeNull();
      expect(await store.list()).toEqual([t.sha]);
      const where = store.locate(t.sha);
      expect(where.kind).toBe("file");
    });

    test("a row commit that rejects takes the blob back, unless a row already holds it", async () => {
      const { store, referenced, stored } = await make();
      const a = await writeTemp(store, "not recorded\n");
      await expect(store.commitTemp(a.name, a.sha, async () => { throw new Error("disk I/O error"); })).rejects.toThrow("disk I/O error");
      await store.drain(5000);
      expect(store.sizeOf(a.sha)).toBeNull();
      expect(await stored(a.sha)).toBeNull();
      const b = await writeTemp(store, "shared with a row\n");
      referenced.add(b.sha);
      await expect(store.commitTemp(b.name, b.sha, async () => { throw new Error("busy"); })).rejects.toThrow("busy");
      await store.drain(5000);
      expect(await stored(b.sha)).toEqual(b.bytes);
    });

    test("delete removes the blob; list and sizeOf no longer see it", async () => {
      const { store, stored } = await make();
      const t = await writeTemp(store, "to delete\n");
      await store.commitTemp(t.name, t.sha, async () => null);
      store.delete(t.sha);
      expect(store.sizeOf(t.sha)).toBeNull();
      await store.drain(5000);
      expect(await stored(t.sha)).toBeNull();
      expect(await store.list()).toEqual([]);
    });

    test("a delete while a commit of the same bytes waits for its row leaves the blob for that commit", async () => {
      const { store, referenced, stored } = await make();
      const first = await writeTemp(store, "same bytes\n");
      await store.commitTemp(first.name, first.sha, async () => null);
      const second = await writeTemp(store, "same bytes\n");
      let open = (): void => {};
      const rowHeld = new Promise<void>((resolve) => {
        open = resolve;
      });
      let rowStarted = false;
      const committing = store.commitTemp(second.name, second.sha, async () => {
        rowStarted = true;
        await rowHeld;
        referenced.add(second.sha);
      });
      // The S3 store uploads first: wait until the row commit is under way in both stores.
      await pollUntil(() => rowStarted, { what: "the row commit to start", timeoutMs: 10_000 });
      store.delete(first.sha); // the first key's row went; no row holds the blob at this moment
      expect(store.sizeOf(first.sha)).toBe(first.bytes.byteLength);
      open();
      await committing;
      await store.drain(5000);
      expect(await stored(first.sha)).toEqual(first.bytes);
      expect(store.sizeOf(first.sha)).toBe(first.bytes.byteLength);
    });

    test("temp files: append, truncate, read back while written, sweep", async () => {
      const { store } = await make();
      const temp = await store.openTemp("fill-1.part", { truncate: true });
      await temp.write(new TextEncoder().encode("abcdef"));
      const reader = store.openTempReader("fill-1.part")!;
      expect(new TextDecoder().decode(await reader.read(2, 3))).toBe("cde");
      await temp.close();
      reader.close();
      store.truncateTemp("fill-1.part", 4);
      const again = await store.openTemp("fill-1.part", { truncate: false });
      await again.write(new TextEncoder().encode("XY"));
      await again.close();
      expect(new TextDecoder().decode(await readAll(store.readTemp("fill-1.part")))).toBe("abcdXY");
      expect(store.sweepTemp(new Set())).toEqual(["fill-1.part"]);
      expect(store.openTempReader("fill-1.part")).toBeNull();
    });

    test("describe names the store and never a secret", async () => {
      const { store } = await make();
      expect(store.describe()).toMatch(kind === "s3" ? /^s3:\/\/contract-\d+-\d+\/p\/ at http:\/\/127\.0\.0\.1:\d+$/ : /^directory \/.*\/blobs$/);
      expect(store.describe()).not.toContain(s3.secretAccessKey);
    });
  });
}

describe("S3 store only", () => {
  test("without a local copy a blob is read from the bucket, whole or by range", async () => {
    // localCacheBytes 0: a commit keeps no local copy (the directory store has no such mode).
    const { store } = await makeS3(0);
    const t = await writeTemp(store, "0123456789".repeat(100));
    await store.commitTemp(t.name, t.sha, async () => null);
    const where = store.locate(t.sha);
    expect(where.kind).toBe("remote");
    if (where.kind !== "remote") return;
    expect(where.sizeBytes).toBe(1000);
    expect(new TextDecoder().decode(await readAll(where.read({ start: 995, endExclusive: 1000 })))).toBe("56789");
    expect(await readAll(where.read({ start: 0, endExclusive: 1000 }))).toEqual(t.bytes);
  });

  test("a delete waits for nothing but looks again when it runs: a row written meanwhile keeps the object", async () => {
    // The directory store unlinks at once (it looks at rows and commits in flight when delete is called).
    const made = await makeS3();
    const { store, referenced, stored } = made;
    const t = await writeTemp(store, "referenced again\n");
    await store.commitTemp(t.name, t.sha, async () => null);
    store.delete(t.sha);
    referenced.add(t.sha);
    await store.drain(5000);
    expect(await stored(t.sha)).toEqual(t.bytes);
  });

  test("a delete during a commit of the same bytes leaves the object for the commit", async () => {
    const { store, referenced, stored } = await makeS3();
    const first = await writeTemp(store, "same bytes\n");
    await store.commitTemp(first.name, first.sha, async () => null);
    const second = await writeTemp(store, "same bytes\n");
    const committing = store.commitTemp(second.name, second.sha, async () => void referenced.add(second.sha));
    store.delete(first.sha);
    await committing;
    await store.drain(5000);
    expect(await stored(first.sha)).toEqual(first.bytes);
  });
});
