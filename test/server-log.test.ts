// The access log tells the truth about a miss: the request line names what became of its fill
// (queued as job N, refused and why, not queued and why), and a request the server cannot even
// parse is answered with one plain-text line, never a 500.
import { describe, expect, test } from "bun:test";
import { blobUrl, cleanupsAfterEach, jobFinished, pollUntil, startCleanedServer, startOrigin, type TestServer } from "./helpers/index.ts";

const cleanups = cleanupsAfterEach();

function origin() {
  const o = startOrigin((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/ok.bin") return new Response("fine\n");
    return new Response("nope\n", { status: 404 });
  });
  cleanups.push(() => o.stop());
  return o;
}

/** The request log line of the miss that `key` just had (bounded poll: it is written once the fill's fate is known). */
function missLine(s: TestServer, key: string, nth = 1): Promise<string> {
  return pollUntil(() => s.logs.filter((l) => / request id=/.test(l) && l.includes(`key=${key}`) && l.includes("status=404"))[nth - 1], { what: `request line ${nth} for ${key}` });
}

describe("the request line of a miss says what became of its fill", () => {
  test("a queued fill is result=miss-fill with its job id", async () => {
    const o = origin();
    const s = await startCleanedServer(cleanups);
    const key = `${o.url}/ok.bin`;
    expect((await fetch(blobUrl(s.url, key))).status).toBe(404);
    const line = await missLine(s, key);
    const job = s.running.ctx.fills.listJobs().find((j) => j.key === key)!;
    expect(line).toContain(` result=miss-fill job=${job.id}`);
    expect(line).not.toContain("reason=");
  });

  test("a fill refused by --allow-host is result=miss-refused with the reason, not miss-fill", async () => {
    const o = origin();
    const s = await startCleanedServer(cleanups, { allowHosts: ["mirror.example.org"] });
    const key = `${o.url}/ok.bin`;
    expect((await fetch(blobUrl(s.url, key))).status).toBe(404);
    const line = await missLine(s, key);
    expect(line).toContain(` result=miss-refused reason="origin host 127.0.0.1 is not in --allow-host; not fetched automatically"`);
    expect(line).not.toContain("miss-fill");
    expect(o.requests.length).toBe(0);
  });

  test("a private origin refused without --allow-private-origins is result=miss-refused with the reason", async () => {
    const o = origin();
    const s = await startCleanedServer(cleanups, { allowPrivateOrigins: false });
    const key = `${o.url}/ok.bin`;
    await fetch(blobUrl(s.url, key), { method: "HEAD" });
    const line = await missLine(s, key);
    expect(line).toContain(` result=miss-refused reason="origin host 127.0.0.1 is a loopback address; refused without --allow-private-origins"`);
  });

  test("a miss right after a failed fill is result=miss-not-queued with the reason (a 404 makes the url uncacheable for --uncacheable-retry)", async () => {
    const o = origin();
    const s = await startCleanedServer(cleanups, { fillAttempts: 1 });
    const key = `${o.url}/absent.bin`;
    await fetch(blobUrl(s.url, key)).then((r) => r.text());
    expect((await jobFinished(s, key)).state).toBe("failed");
    await fetch(blobUrl(s.url, key)).then((r) => r.text());
    const line = await missLine(s, key, 2);
    expect(line).toMatch(/ result=miss-not-queued reason="uncacheable: origin answered 404 for http:\/\/127\.0\.0\.1:\d+\/absent\.bin; not fetched again for 3600 s \(--uncacheable-retry\)"/);
  });

  test("curate mode logs a plain miss (nothing is fetched)", async () => {
    const o = origin();
    const s = await startCleanedServer(cleanups, { curate: true });
    const key = `${o.url}/ok.bin`;
    await fetch(blobUrl(s.url, key)).then((r) => r.text());
    expect(await missLine(s, key)).toMatch(/ result=miss$/);
  });
});

/** Send raw bytes (a head, then optionally a body) and collect everything until the server closes (bounded). */
function rawExchange(serverUrl: string, head: string, body?: Uint8Array): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no close within 5 s: ${JSON.stringify(text.slice(0, 300))}`)), 5000);
    void Bun.connect({
      hostname: "127.0.0.1",
      port: Number(new URL(serverUrl).port),
      socket: {
        open: (sock) => {
          sock.write(head);
          if (body) sock.write(body);
        },
        data: (_sock, chunk) => void (text += chunk.toString("latin1")),
        close: () => {
          clearTimeout(timer);
          resolve(text);
        },
        error: () => {
          clearTimeout(timer);
          resolve(text);
        },
      },
    });
  });
}

describe("requests the server cannot parse", () => {
  test("an invalid Host header is a 400 with one plain-text line, not a 500", async () => {
    const s = await startCleanedServer(cleanups);
    const answer = await rawExchange(s.url, "GET /healthz HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n");
    const [head, body] = answer.split("\r\n\r\n") as [string, string];
    expect(head.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
    expect(head.toLowerCase()).toContain("content-type: text/plain; charset=utf-8");
    expect(body).toBe('host header "a b" is not a valid host; expected host[:port]\n');
    expect(s.logs.some((l) => l.includes("internal-error"))).toBe(false);
  });

  test("a body over 1 MiB is refused with a reason, declared or chunked, and the connection closed", async () => {
    const s = await startCleanedServer(cleanups, { adminPassword: "pw" });
    for (const path of ["/login", "/admin/add", "/b/aHR0cDovL2gveA/x", "/nope"]) {
      const declared = await rawExchange(s.url, `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000000000\r\n\r\n`, new Uint8Array(64 * 1024));
      expect(declared.split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large");
      expect(declared.split("\r\n\r\n")[1]).toBe("request body of 2000000000 bytes is larger than 1048576 bytes\n");
    }
    // Chunked: no length to refuse it by; the login form reads at most 1 MiB of it.
    const chunk = new Uint8Array(256 * 1024).fill(0x61);
    const chunked = Buffer.concat([Buffer.from("password=\r\n"), ...Array.from({ length: 8 }, () => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]))]);
    const answer = await rawExchange(s.url, `POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n`, chunked);
    expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large");
    expect(answer.split("\r\n\r\n")[1]).toBe("/login: form body is larger than 1048576 bytes\n");
    expect(s.logs.filter((l) => / request id=/.test(l) && l.includes("status=413")).length).toBe(5);
  });

  test("a form body that does not parse is a 400 with the reason, not a 500", async () => {
    const s = await startCleanedServer(cleanups, { adminPassword: "pw" });
    for (const type of ["multipart/form-data; boundary=zz", "multipart/form-data"]) {
      const r = await fetch(`${s.url}/login`, { method: "POST", headers: { "content-type": type, origin: s.url }, body: "garbage" });
      expect(r.status).toBe(400);
      expect(await r.text()).toBe("/login: form body does not parse as multipart/form-data\n");
    }
    expect(s.logs.some((l) => l.includes("internal-error"))).toBe(false);
  });
});
