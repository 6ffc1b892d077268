import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { liveHashWorkers, openSha256Sink } from "./sha256-sink.ts";

/** Uneven chunk sizes that straddle the 1 MiB batches, one of them larger than several batches. */
function chunks(): Uint8Array[] {
  const sizes = [1, 65_536, 1_000_003, 3 * 1024 * 1024 + 7, 0, 48_000, 1024 * 1024, 17];
  return sizes.map((n, k) => new Uint8Array(n).map((_, i) => (i * (k + 3) + (i >> 9)) % 256));
}

describe("sha-256 sink", () => {
  test("the worker's digest equals node:crypto's; reusing a chunk after update does not change it", async () => {
    const want = createHash("sha256");
    const sink = await openSha256Sink();
    try {
      expect(sink.mode).toBe("worker");
      for (const c of chunks()) {
        want.update(c);
        sink.update(c);
        c.fill(0xee); // the caller reuses its buffer at once
        await sink.drain();
      }
      expect(await sink.digest()).toBe(want.digest("hex"));
    } finally {
      sink.dispose();
    }
    expect(liveHashWorkers()).toBe(0);
  });

  test("a worker that cannot start falls back to this thread, reported once per sink", async () => {
    const reasons: string[] = [];
    const sink = await openSha256Sink({ workerUrl: new URL("./no-such-hash-worker.ts", import.meta.url).href, onWorkerFailure: (r) => reasons.push(r) });
    expect(sink.mode).toBe("thread");
    expect(reasons.length).toBe(1);
    expect(reasons[0]).toContain("no-such-hash-worker");
    const want = createHash("sha256");
    for (const c of chunks()) {
      want.update(c);
      sink.update(c);
    }
    expect(await sink.digest()).toBe(want.digest("hex"));
    sink.dispose();
    expect(liveHashWorkers()).toBe(0);
  });

  test("after dispose the worker is gone and a digest is refused", async () => {
    const sink = await openSha256Sink();
    expect(liveHashWorkers()).toBe(1);
    sink.update(new Uint8Array(10));
    sink.dispose();
    sink.dispose();
    expect(liveHashWorkers()).toBe(0);
    await expect(sink.digest()).rejects.toThrow("sha-256 worker was stopped");
  });
});
