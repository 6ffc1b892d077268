// Benchmark 9: the S3 blob store (versitygw on loopback, the S3 server of the tests) with a 1 GiB
// artifact from nginx. Each round, side by side in the same run:
//   fill into S3      a cold fill through dist/withcache --blob-store s3://… (origin download,
//                     sha256, upload, size check) vs Bun.S3Client writing the same file directly
//   first hit         a hit with no local copy (--local-cache-bytes 0: streamed from the bucket,
//                     sha256-checked) vs a plain S3 GET of the same object (curl --aws-sigv4);
//                     also (context) the first hit of the same data dir restarted with local
//                     copies allowed, which streams from the copy being made
//   local-copy hit    a hit served from the local copy vs the same hit on the embedded default
//   streamed miss     (context) a client of a cold miss, streamed through its fill into S3, vs
//                     curl from the origin: it does not wait for the upload
// The fill and the direct write each start after a `sync` and alternate their order by round.
// Targets (issue 13): fill ≥ 0.8× direct (≤ 1.25× the time), first hit ≥ 0.8× a plain GET, a hit
// on the local copy ≥ 0.95× embedded.
import fs from "node:fs";
import path from "node:path";
import { bigFile, BIG_FILE_BYTES, curlTime, freePort, logsDir, pollUntil, runOk, startChild, startNginx, startWithcache, tempDir, warmPageCache, ROOT } from "./harness.ts";
import { median } from "./stats.ts";
import type { Row } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

export const KEY_ID = "benchkey";
export const SECRET = "bench-secret-key-0123456789";
export const REGION = "us-east-1";

export async function startVersitygw(): Promise<{ endpoint: string }> {
  const binary = path.join(ROOT, ".tools/bin/versitygw");
  if (!fs.existsSync(binary)) throw new Error(`${binary} does not exist; run scripts/setup --test`);
  const root = tempDir("s3-root");
  const port = freePort();
  startChild("versitygw", [binary, "--port", `127.0.0.1:${port}`, "--quiet", "posix", root], {
    logDir: logsDir(),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, ROOT_ACCESS_KEY_ID: KEY_ID, ROOT_SECRET_ACCESS_KEY: SECRET },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await pollUntil("versitygw", async () => (await fetch(endpoint).then(() => true, () => false)) || undefined, { timeoutMs: 10_000, intervalMs: 20 });
  return { endpoint };
}

function sigv4(payload: "UNSIGNED-PAYLOAD" | "empty"): string[] {
  const hash = payload === "empty" ? "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" : payload;
  return ["--aws-sigv4", `aws:amz:${REGION}:s3`, "-u", `${KEY_ID}:${SECRET}`, "-H", `x-amz-content-sha256: ${hash}`];
}

export async function makeBucket(endpoint: string, name: string): Promise<void> {
  await runOk(["/usr/bin/curl", "-sS", "-f", "-X", "PUT", ...sigv4("empty"), `${endpoint}/${name}`], { timeoutMs: 10_000 });
}

/** A cold fill through the cache until it is committed (a probe during the fill answers 200 with X-Withcache-Filling). */
async function fillCommitted(server: { blobUrl: (u: string) => string }, originUrl: string): Promise<void> {
  const url = server.blobUrl(originUrl);
  await fetch(url, { method: "HEAD" }).catch(() => null);
  await pollUntil(
    "committed fill",
    async () => {
      const r = await fetch(url, { method: "HEAD" }).catch(() => null);
      return r !== null && r.status === 200 && r.headers.get("x-withcache-filling") === null ? true : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 20 },
  );
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const file = await bigFile();
  await warmPageCache(file);
  const nginx = await startNginx(path.dirname(file), { label: "s3-origin" });
  const originUrl = nginx.url(path.basename(file));
  const { endpoint } = await startVersitygw();
  const env = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_REGION: REGION };
  const client = (bucket: string) => new Bun.S3Client({ bucket, endpoint, accessKeyId: KEY_ID, secretAccessKey: SECRET, region: REGION });
  const sha = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(file).stream() as unknown as AsyncIterable<Uint8Array>) sha.update(chunk);
  const sha256 = sha.digest("hex");

  const samples: Record<string, number[]> = {};
  const push = (name: string, seconds: number) => (samples[name] ??= []).push(seconds);
  const embedded = await startWithcache({ label: "s3-embedded", args: ["--allow-private-origins"] });
  await fillCommitted(embedded, originUrl);
  for (let round = 0; round < ctx.runs; round += 1) {
    const bucket = `bench-${process.pid}-${round}`;
    await makeBucket(endpoint, bucket);
    // Ours: a cold fill through the cache into the bucket (no local copy kept), started before
    // the clock; vs the same bytes written by Bun.S3Client, the floor of any upload. `sync` before
    // each side (one side's writeback must not land on the other's clock) and the order
    // alternates by round, as in the fill benchmark.
    const wc = await startWithcache({ label: `s3-${round}`, args: ["--allow-private-origins", "--blob-store", `s3://${bucket}/wc`, "--local-cache-bytes", "0"], envExtra: env });
    const sides = {
      "direct-write": () => client(bucket).file(`direct/${round}`).write(Bun.file(file)),
      fill: () => fillCommitted(wc, originUrl),
    };
    const order = round % 2 === 0 ? (["direct-write", "fill"] as const) : (["fill", "direct-write"] as const);
    for (const side of order) {
      await runOk(["sync"], { timeoutMs: 60_000 });
      const t0 = performance.now();
      await sides[side]();
      push(side, (performance.now() - t0) / 1000);
    }
    // First hit (no local copy) vs a plain S3 GET of the same object.
    push("s3-get", Number((await runOk(["/usr/bin/curl", "-sS", "-f", "-o", "/dev/null", ...sigv4("UNSIGNED-PAYLOAD"), "-w", "%{time_total}", `${endpoint}/${bucket}/wc/sha256/${sha256}`], { timeoutMs: 120_000 })).trim()));
    push("first-hit", await curlTime(wc.blobUrl(originUrl), { timeoutMs: 120_000, expectBytes: BIG_FILE_BYTES }));
    wc.child.proc.kill("SIGKILL");
    await wc.child.proc.exited;
    // The same data dir (its row, no local copy) on a server that keeps local copies (the
    // default): its first hit streams from the copy being made; then a hit on the local copy vs
    // the embedded default.
    const local = await startWithcache({ label: `s3-local-${round}`, dataDir: wc.dataDir, args: ["--allow-private-origins", "--blob-store", `s3://${bucket}/wc`, "--local-cache-bytes", "2GiB"], envExtra: env });
    const copy = path.join(local.dataDir, "blobs", sha256.slice(0, 2), sha256);
    if (fs.existsSync(copy)) throw new Error("the server without local copies kept one");
    push("first-hit-copying", await curlTime(local.blobUrl(originUrl), { timeoutMs: 120_000, expectBytes: BIG_FILE_BYTES }));
    await pollUntil("local copy", async () => (fs.existsSync(copy) ? true : undefined), { timeoutMs: 120_000, intervalMs: 50 });
    await warmPageCache(copy);
    const pair = round % 2 === 0 ? (["embedded", "local-hit"] as const) : (["local-hit", "embedded"] as const);
    for (const which of pair) push(which, await curlTime((which === "embedded" ? embedded : local).blobUrl(originUrl), { timeoutMs: 120_000, expectBytes: BIG_FILE_BYTES }));
    local.child.proc.kill("SIGKILL");
    await local.child.proc.exited;
    // A client of a cold miss on an S3 replica: streamed through the fill (its last byte once the
    // answer is verified, not after the upload) vs curl from the origin itself. A bucket of its own,
    // so the fill uploads.
    const streamBucket = `${bucket}-stream`;
    await makeBucket(endpoint, streamBucket);
    const streaming = await startWithcache({ label: `s3-stream-${round}`, args: ["--allow-private-origins", "--blob-store", `s3://${streamBucket}/wc`, "--first-byte-wait", "10s"], envExtra: env });
    push("origin-get", await curlTime(originUrl, { timeoutMs: 120_000, expectBytes: BIG_FILE_BYTES }));
    push("streamed-miss", await curlTime(streaming.blobUrl(originUrl), { timeoutMs: 120_000, expectBytes: BIG_FILE_BYTES }));
    await fillCommitted(streaming, originUrl);
    streaming.child.proc.kill("SIGKILL");
    await streaming.child.proc.exited;
    ctx.log(`s3: round ${round + 1}/${ctx.runs}: fill ${samples["fill"]!.at(-1)!.toFixed(2)} s vs direct write ${samples["direct-write"]!.at(-1)!.toFixed(2)} s`);
  }
  const row = (metric: string, referenceName: string, reference: string, ours: string, max: number | null): Row => ({
    benchmark: "s3",
    metric,
    unit: "s",
    referenceName,
    reference: median(samples[reference]!),
    ours: median(samples[ours]!),
    target: max === null ? { kind: "none" } : { kind: "ratio-at-most", value: max },
    anchor: "",
  });
  return {
    rows: [
      row("fill 1 GiB into S3 (origin → sha256 → upload → size check)", "Bun.S3Client write", "direct-write", "fill", 1.25),
      row("first hit of 1 GiB, no local copy (streamed from S3, sha256-checked)", "curl S3 GET", "s3-get", "first-hit", 1.25),
      row("first hit of 1 GiB while its local copy is made (the default; context)", "curl S3 GET", "s3-get", "first-hit-copying", null),
      row("hit of 1 GiB on the local copy", "embedded default", "embedded", "local-hit", 1.05),
      row("a client of a 1 GiB miss on an S3 replica, streamed through the fill (context)", "curl from the origin", "origin-get", "streamed-miss", null),
    ],
    raw: { samplesSeconds: samples, bytes: BIG_FILE_BYTES },
  };
}

export const s3Benchmark: Benchmark = { name: "s3", title: "S3 blob store (versitygw on loopback), 1 GiB", run };
