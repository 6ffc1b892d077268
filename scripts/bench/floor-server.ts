// The Bun floor for the probe benchmark: the least a Bun server can do per HEAD of a cached file
// (Bun.file response with the same header count as a withcache hit, no lookup, no log). Context
// only: it tells Bun's own per-request cost apart from withcache's.
//   bun scripts/bench/floor-server.ts <file> <port>
const [file, port] = process.argv.slice(2);
if (!file || !port) throw new Error("usage: floor-server.ts <file> <port>");
const headers = {
  "content-type": "application/octet-stream",
  etag: '"0000000000000000000000000000000000000000000000000000000000000000"',
  "last-modified": new Date().toUTCString(),
  "accept-ranges": "bytes",
  "x-withcache-sha256": "0000000000000000000000000000000000000000000000000000000000000000",
  "content-disposition": "inline",
};
Bun.serve({ hostname: "127.0.0.1", port: Number(port), fetch: () => new Response(Bun.file(file), { headers }) });
