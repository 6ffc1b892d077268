// https origins through the pinned path: the fill connects to the checked IP while TLS still
// verifies the certificate against the origin's name. Runs openOrigin in a child bun process
// that trusts a throwaway CA (NODE_EXTRA_CA_CERTS), against a real TLS origin on loopback.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { makeTempDir, REPO_ROOT, run, type TempDir } from "./helpers/index.ts";

let dir: TempDir;
let origin: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  dir = makeTempDir("withcache-tls-");
  const made = await run(
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=pinned.test", "-addext", "subjectAltName=DNS:pinned.test",
      "-keyout", join(dir.path, "key.pem"), "-out", join(dir.path, "cert.pem")],
  );
  expect(made.exitCode).toBe(0);
  origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: Bun.file(join(dir.path, "cert.pem")), key: Bun.file(join(dir.path, "key.pem")) },
    fetch: (req) => new Response(`tls ok for ${req.headers.get("host")}\n`),
  });
});

afterAll(() => {
  origin?.stop(true);
  dir?.cleanup();
});

async function openVia(name: string): Promise<string> {
  const script = `
    import { openOrigin } from ${JSON.stringify(join(REPO_ROOT, "src/fetch/origin.ts"))};
    try {
      const { response } = await openOrigin({
        url: "https://${name}:${origin.port}/x",
        headers: {},
        signal: new AbortController().signal,
        maxRedirects: 0,
        allowPrivateOrigins: false,
        resolve: async () => ["127.0.0.1"],
        addressAllowed: (ip) => ip === "127.0.0.1",
      });
      process.stdout.write(response.status + " " + (await response.text()));
    } catch (err) {
      process.stdout.write("error " + err.kind + ": " + err.message);
    }`;
  const r = await run([process.execPath, "-e", script], { env: { NODE_EXTRA_CA_CERTS: join(dir.path, "cert.pem") } });
  expect(r.stderr).toBe("");
  return r.stdout;
}

test("https to a pinned address verifies the certificate against the origin's name", async () => {
  expect(await openVia("pinned.test")).toBe(`200 tls ok for pinned.test:${origin.port}\n`);
  const wrong = await openVia("other.test");
  expect(wrong).toStartWith(`error transient: cannot reach origin https://other.test:${origin.port}/x:`);
  expect(wrong.toLowerCase()).toContain("altname");
});
