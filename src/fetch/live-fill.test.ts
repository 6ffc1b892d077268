import { describe, expect, test } from "bun:test";
import { LiveFill } from "./live-fill.ts";

const head = { contentType: "application/octet-stream", contentDisposition: null, totalBytes: 100, redirected: false };

describe("LiveFill", () => {
  test("readers hear of bytes in batches, and at once of commit and cut", async () => {
    const l = new LiveFill("k", 1, "fill-1.part");
    l.publish(head);
    expect(l.state).toBe("streaming");
    let woke = false;
    const waiting = l.waitForNews(5_000).then(() => (woke = true));
    l.progress(10); // under the batch: announced after a short delay, not per write
    expect(woke).toBe(false);
    await waiting;
    expect(woke).toBe(true);
    expect(l.written).toBe(10);
    const t0 = performance.now();
    const c = l.waitForNews(5_000);
    l.commit(100);
    await c;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(l.state).toBe("committed");
    l.cut("late");
    expect(l.state).toBe("committed"); // a committed fill's streams finish
  });

  test("rewinding below the written bytes starts a new generation; appending does not", () => {
    const l = new LiveFill("k", 1, "fill-1.part");
    l.publish(head);
    l.progress(50);
    const g = l.generation;
    l.rewindTo(50);
    expect(l.generation).toBe(g);
    l.rewindTo(20);
    expect(l.generation).toBe(g + 1);
    expect(l.written).toBe(20);
  });

  test("a resume with another head (length, type) cuts what was sent", () => {
    const l = new LiveFill("k", 1, "fill-1.part");
    l.publish(head);
    l.progress(50);
    const g = l.generation;
    l.publish(head);
    expect(l.generation).toBe(g);
    l.publish({ ...head, totalBytes: 200 });
    expect(l.generation).toBe(g + 1);
    expect(l.written).toBe(0);
  });

  test("another head with no byte written yet still starts a new generation (a reader took the old head's length)", () => {
    const l = new LiveFill("k", 1, "fill-1.part");
    l.publish(head);
    const g = l.generation;
    l.publish({ ...head, totalBytes: 300 });
    expect({ generation: l.generation, written: l.written }).toEqual({ generation: g + 1, written: 0 });
  });

  test("a cut ends streaming for good, with its reason", () => {
    const l = new LiveFill("k", 1, "fill-1.part");
    l.publish(head);
    const g = l.generation;
    l.cut("origin closed");
    expect(l.state).toBe("cut");
    expect(l.generation).toBe(g + 1);
    expect(l.cutReason).toBe("origin closed");
    l.publish(head);
    expect(l.state).toBe("cut");
  });

  test("a wait is bounded", async () => {
    const l = new LiveFill("k", 1, "fill-1.part");
    const t0 = performance.now();
    await l.waitForNews(30);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
  });

  test("streams asking for the same bytes share one read; a new generation, a failed read or other bytes read again", async () => {
    const l = new LiveFill("k", 1, "fill-1.part");
    l.publish(head);
    let reads = 0;
    const read = (fill: number) => async () => {
      reads++;
      return new Uint8Array(4).fill(fill);
    };
    const [a, b] = await Promise.all([l.sharedRead(0, 4, read(1)), l.sharedRead(0, 4, read(2))]);
    expect(reads).toBe(1);
    expect(b).toBe(a);
    await l.sharedRead(4, 4, read(3));
    expect(reads).toBe(2);
    l.progress(8);
    l.rewindTo(0);
    expect((await l.sharedRead(0, 4, read(4)))[0]).toBe(4);
    expect(reads).toBe(3);
    const failing = () => Promise.reject(new Error("closed"));
    await expect(l.sharedRead(100, 4, failing)).rejects.toThrow("closed");
    expect((await l.sharedRead(100, 4, read(5)))[0]).toBe(5);
    // Bounded: old ranges are forgotten.
    for (let i = 0; i < 20; i++) await l.sharedRead(1000 + i * 4, 4, read(6));
    const before = reads;
    await l.sharedRead(1000, 4, read(7));
    expect(reads).toBe(before + 1);
  });
});
