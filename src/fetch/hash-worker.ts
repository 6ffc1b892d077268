// The fill's SHA-256, on another core: a Worker entrypoint (listed as an extra entrypoint of
// `bun build --compile` in scripts/build and scripts/release). Protocol, see sha256-sink.ts:
//   in:  { t: "u", b: ArrayBuffer, n } (hash the first n bytes of b, transferred) · { t: "d" } (digest)
//   out: { t: "ready" } once loaded · { t: "a", n, b } (n bytes hashed; b handed back for reuse) · { t: "d", hex }
export {}; // a module: its names are its own

type Port = { onmessage: ((event: MessageEvent) => void) | null; postMessage(message: unknown, transfer?: Transferable[]): void };
const port = globalThis as unknown as Port;
let hasher = new Bun.CryptoHasher("sha256");
port.onmessage = (event: MessageEvent): void => {
  const m = event.data as { t?: unknown; b?: unknown; n?: unknown };
  if (m.t === "u" && m.b instanceof ArrayBuffer && typeof m.n === "number" && m.n <= m.b.byteLength) {
    hasher.update(new Uint8Array(m.b, 0, m.n));
    port.postMessage({ t: "a", n: m.n, b: m.b }, [m.b]);
  } else if (m.t === "d") {
    port.postMessage({ t: "d", hex: hasher.digest("hex") });
    hasher = new Bun.CryptoHasher("sha256");
  }
};
port.postMessage({ t: "ready" });
