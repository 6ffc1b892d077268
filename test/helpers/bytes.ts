// Deterministic bytes for test origins: distinct per seed (a path), the same on every run, so a
// test can compute the sha256 the cache must end up with.
export function patternedBytes(seed: string, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = [...seed].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
