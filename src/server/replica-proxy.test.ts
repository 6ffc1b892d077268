import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { fromReplica, HOP_HEADER } from "./replica-proxy.ts";

// The other replica is a real HTTP server on loopback that answers as a peer might.
let peer: Server<undefined>;
const seenHops: string[] = [];
beforeAll(() => {
  peer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      seenHops.push(req.headers.get(HOP_HEADER) ?? "");
      const path = new URL(req.url).pathname;
      if (path === "/slow") await Bun.sleep(2_000);
      if (path === "/miss") return new Response("miss\n", { status: 404 });
      // No CSP, no nosniff, an HTML body: as from a proxy that strips them, or not a withcache at all.
      return new Response("<script>alert(1)</script>", { headers: { "content-type": "text/html", "x-withcache-filling": "1" } });
    },
  });
});
afterAll(() => peer.stop(true));

const ask = (path: string) => new Request(`http://127.0.0.1:1${path}`);

describe("fromReplica", () => {
  test("a relayed body always carries the sandbox policy and nosniff, whatever the other end sent", async () => {
    const res = await fromReplica(ask("/html"), peer.url.href, "replica-a");
    expect(res).not.toBeNull();
    expect(res!.headers.get("content-security-policy")).toBe("default-src 'none'; sandbox");
    expect(res!.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res!.headers.get("content-type")).toBe("text/html");
    expect(res!.headers.get("x-withcache-filling")).toBe("1");
    expect(await res!.text()).toBe("<script>alert(1)</script>");
    expect(seenHops.at(-1)).toBe("replica-a");
  });
  test("no answer within the time the caller has left: null at that time, not after the fixed 5 s", async () => {
    const started = performance.now();
    expect(await fromReplica(ask("/slow"), peer.url.href, "replica-a", 300)).toBeNull();
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1_500);
  });
  test("a miss there too is null", async () => {
    expect(await fromReplica(ask("/miss"), peer.url.href, "replica-a")).toBeNull();
  });
});
