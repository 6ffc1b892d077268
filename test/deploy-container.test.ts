// deploy/Containerfile and deploy/compose.yml, kept correct without a container engine: the
// directives are parsed and checked against the compiled binary's real flags, the image's command
// line is run against a temp data dir, and the HEALTHCHECK command is run against it (and a dead port).
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, readHelp, requireBinary, ROOT, run, startServe, type Served } from "./deploy-support.ts";

type Directive = { keyword: string; args: string; line: number };
type Stage = { from: string; name: string | null; directives: Directive[] };

/** The Dockerfile subset we use: comments, `\` continuations, one directive per logical line. */
function parseContainerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let logical = lines[i]!;
    if (/^\s*(#|$)/.test(logical)) continue;
    while (logical.endsWith("\\") && i + 1 < lines.length) {
      logical = logical.slice(0, -1) + " " + lines[++i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(logical);
    if (!m) throw new Error(`Containerfile:${start}: not a directive: ${logical}`);
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (keyword === "FROM") {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`Containerfile:${start}: bad FROM: ${args}`);
      stages.push({ from: from[1]!, name: from[2] ?? null, directives: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Containerfile:${start}: ${keyword} before FROM`);
    stage.directives.push({ keyword, args, line: start });
  }
  return stages;
}

function only(stage: Stage, keyword: string): Directive {
  const found = stage.directives.filter((d) => d.keyword === keyword);
  expect(found.map((d) => d.keyword), `final stage needs exactly one ${keyword}`).toEqual([keyword]);
  return found[0]!;
}

/** Exec form only (JSON array): shell form would need a shell, which distroless does not have. */
function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === "string")) throw new Error(`not exec form: ${args}`);
  return parsed;
}

/** Value of `--flag value` or `--flag=value` in an argv. */
function flagValue(argv: string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag) return argv[i + 1];
    if (argv[i]!.startsWith(flag + "=")) return argv[i]!.slice(flag.length + 1);
  }
  return undefined;
}

function withFlag(argv: string[], flag: string, value: string): string[] {
  const out = [...argv];
  const i = out.indexOf(flag);
  expect(i, `${flag} in ${JSON.stringify(argv)}`).toBeGreaterThan(-1);
  out[i + 1] = value;
  return out;
}

const containerfile = fs.readFileSync(path.join(ROOT, "deploy/Containerfile"), "utf8");
const stages = parseContainerfile(containerfile);
const final = stages.at(-1)!;
const binInImage = "/usr/local/bin/withcache";

describe("deploy/Containerfile", () => {
  test("multi-stage: builder compiles with scripts/build from the locked deps; only the binary goes on", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const builder = stages[0]!;
    const runs = builder.directives.filter((d) => d.keyword === "RUN").map((d) => d.args);
    expect(runs.some((r) => r.includes("npm ci"))).toBe(true);
    expect(runs.some((r) => r.includes("scripts/build"))).toBe(true);
    // Every COPY source of the builder exists in the repository (the build context is the root).
    for (const d of builder.directives.filter((d) => d.keyword === "COPY")) {
      const parts = d.args.split(/\s+/).filter((p) => !p.startsWith("--"));
      for (const src of parts.slice(0, -1)) {
        expect(fs.existsSync(path.join(ROOT, src)), `COPY source ${src} (line ${d.line})`).toBe(true);
      }
    }
    // The allow-list next to the Containerfile must let every COPY source through, and nothing else.
    const ignore = fs.readFileSync(path.join(ROOT, "deploy/Containerfile.dockerignore"), "utf8");
    const allowed = ignore
      .split("\n")
      .filter((l) => l.startsWith("!"))
      .map((l) => l.slice(1).replace(/\/$/, ""));
    expect(ignore.split("\n")).toContain("*");
    const sources = builder.directives
      .filter((d) => d.keyword === "COPY")
      .flatMap((d) => d.args.split(/\s+/).filter((p) => !p.startsWith("--")).slice(0, -1))
      .map((src) => src.replace(/^\.\//, "").replace(/\/$/, ""));
    expect(new Set(allowed)).toEqual(new Set(sources));
    expect(final.from).toMatch(/^(gcr\.io\/distroless\/cc-debian\d+|(docker\.io\/(library\/)?)?debian:\d+-slim)(:|$)/);
    const copies = final.directives.filter((d) => d.keyword === "COPY");
    for (const c of copies) expect(c.args, `final-stage COPY takes from the builder`).toMatch(/--from=/);
    expect(copies.some((c) => c.args.trim().endsWith(` ${binInImage}`))).toBe(true);
    expect(final.directives.some((d) => d.keyword === "RUN"), "no RUN in the final stage (no shell there)").toBe(false);
  });

  test("non-root user, VOLUME /data, EXPOSE 3000, exec-form entrypoint and healthcheck", () => {
    const user = only(final, "USER").args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(":")[0])).toBeGreaterThan(0);
    expect(only(final, "VOLUME").args).toMatch(/^(\["\/data"\]|\/data)$/);
    expect(only(final, "EXPOSE").args).toBe("3000");
    expect(execForm(only(final, "ENTRYPOINT").args)).toEqual([binInImage]);
    const hc = only(final, "HEALTHCHECK").args;
    expect(hc).toMatch(/\bCMD\s+\[/);
    expect(execForm(hc.slice(hc.indexOf("CMD") + 3).trim())[0]).toBe(binInImage);
  });

  test("the image's command and healthcheck use only flags the binary has, on the exposed port", async () => {
    const cmd = execForm(only(final, "CMD").args);
    expect(cmd[0]).toBe("serve");
    const serveHelp = await readHelp(["serve"]);
    for (const arg of cmd.slice(1).filter((a) => a.startsWith("--"))) {
      expect(serveHelp.longFlags, `serve ${arg}`).toContain(arg.split("=")[0]!);
    }
    expect(flagValue(cmd, "--data-dir")).toBe("/data");
    expect(flagValue(cmd, "--port")).toBe("3000");
    expect(flagValue(cmd, "--host")).toBe("0.0.0.0");

    const hcArgv = healthcheckArgv();
    expect(hcArgv[1]).toBe("healthcheck");
    const hcHelp = await readHelp(["healthcheck"]);
    for (const arg of hcArgv.slice(2).filter((a) => a.startsWith("--"))) {
      expect(hcHelp.longFlags, `healthcheck ${arg}`).toContain(arg.split("=")[0]!);
    }
    expect(new URL(flagValue(hcArgv, "--url") ?? "http://127.0.0.1:3000").port).toBe("3000");
    // The container runtime's own timeout must be longer than the command's.
    const runtimeTimeoutS = Number(/--timeout=(\d+)s/.exec(only(final, "HEALTHCHECK").args)?.[1]);
    const commandTimeoutS = Number(/^(\d+)s$/.exec(flagValue(hcArgv, "--timeout") ?? "5s")?.[1]);
    expect(commandTimeoutS).toBeLessThan(runtimeTimeoutS);
  });
});

function healthcheckArgv(): string[] {
  const hc = only(final, "HEALTHCHECK").args;
  return execForm(hc.slice(hc.indexOf("CMD") + 3).trim());
}

describe("the image's command line, run for real", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "withcache-deploy-container-"));
  let served: Served | null = null;
  afterAll(async () => {
    await served?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("ENTRYPOINT + CMD serve (data dir and address swapped for the test); HEALTHCHECK says healthy", async () => {
    const bin = (await requireBinary());
    const port = freePort();
    let cmd = execForm(only(final, "CMD").args);
    cmd = withFlag(cmd, "--data-dir", path.join(tmp, "data"));
    cmd = withFlag(cmd, "--host", "127.0.0.1");
    cmd = withFlag(cmd, "--port", String(port));
    served = await startServe(bin, cmd, port, { cwd: tmp, env: { WITHCACHE_ADMIN_PASSWORD: "container-test-pw" } });

    const hc = healthcheckArgv().slice(1);
    const url = new URL(flagValue(hc, "--url") ?? "http://127.0.0.1:3000");
    url.port = String(port);
    const live = await run([bin, ...withFlag(hc, "--url", url.href)], {
      cwd: tmp,
      // A proxy in the container's env must not break the probe of 127.0.0.1.
      env: { HTTP_PROXY: "http://127.0.0.1:9", http_proxy: "http://127.0.0.1:9" },
    });
    expect(live.stderr).toBe("");
    expect(live.code).toBe(0);

    // `docker stop` / `systemctl stop` send SIGTERM: a clean drain exits 0 (no restart, no "failed").
    await served.stop();
    expect(served.proc.signalCode).toBeNull();
    expect(served.proc.exitCode).toBe(0);
    expect(served.output()).not.toContain("container-test-pw");
    const dead = await run([bin, ...withFlag(hc, "--url", url.href)], { cwd: tmp });
    expect(dead.code).toBe(1);
    expect(dead.stderr).toMatch(/^withcache: error: healthcheck: http:\/\/127\.0\.0\.1:\d+\/healthz is unreachable/);
    expect(dead.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("healthcheck fails on a server that answers something other than 200", async () => {
    const bin = (await requireBinary());
    const sick = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("nope\n", { status: 503 }) });
    try {
      const res = await run([bin, "healthcheck", "--url", `http://127.0.0.1:${sick.port}`]);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`/healthz answered 503; expected 200`);
    } finally {
      sick.stop(true);
    }
  });
});

describe("deploy/compose.yml", () => {
  const compose = Bun.YAML.parse(fs.readFileSync(path.join(ROOT, "deploy/compose.yml"), "utf8")) as {
    services: Record<string, Record<string, unknown>>;
    volumes?: Record<string, unknown>;
  };

  test("one service built from deploy/Containerfile, named volume on /data, restart policy, password from env", () => {
    const names = Object.keys(compose.services);
    expect(names).toHaveLength(1);
    const svc = compose.services[names[0]!]!;
    const build = svc.build as { context: string; dockerfile: string };
    const context = path.resolve(ROOT, "deploy", build.context);
    expect(context).toBe(ROOT);
    expect(fs.existsSync(path.join(context, build.dockerfile))).toBe(true);
    expect(path.resolve(context, build.dockerfile)).toBe(path.join(ROOT, "deploy/Containerfile"));
    expect(svc.restart).toBe("unless-stopped");

    const volumes = svc.volumes as string[];
    const dataMount = volumes.map((v) => v.split(":")).find((parts) => parts[1] === "/data");
    expect(dataMount, "a volume mounted on /data").toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(dataMount![0]!);

    const env = svc.environment as Record<string, string>;
    expect(env.WITHCACHE_ADMIN_PASSWORD).toMatch(/^\$\{WITHCACHE_ADMIN_PASSWORD(:?[?-][^}]*)?\}$/);

    const ports = svc.ports as string[];
    expect(ports.some((p) => p.endsWith(":3000"))).toBe(true);
  });
});

describe("deploy/compose-replicas.yml", () => {
  const compose = Bun.YAML.parse(fs.readFileSync(path.join(ROOT, "deploy/compose-replicas.yml"), "utf8")) as {
    services: Record<string, Record<string, unknown>>;
    volumes?: Record<string, unknown>;
  };

  test("two replicas over one PostgreSQL and one bucket behind the balancer; every WITHCACHE_ variable is a real setting", async () => {
    const { FIELDS } = await import("../src/config/schema.ts");
    const known = new Set(FIELDS.map((f) => f.env));
    const replicas = Object.entries(compose.services).filter(([, svc]) => (svc.image as string) === "withcache:latest");
    expect(replicas).toHaveLength(2);
    const advertised = new Set<string>();
    for (const [name, svc] of replicas) {
      const env = svc.environment as Record<string, string>;
      for (const key of Object.keys(env).filter((k) => k.startsWith("WITHCACHE_"))) expect(known.has(key), `${name}: ${key}`).toBe(true);
      expect(env.WITHCACHE_DATABASE).toStartWith("postgres://");
      expect(env.WITHCACHE_BLOB_STORE).toStartWith("s3://");
      expect(env.WITHCACHE_ADVERTISE_URL).toBe(`http://${name}:3000`);
      advertised.add(env.WITHCACHE_ADVERTISE_URL!);
      const volumes = svc.volumes as string[];
      expect(volumes.some((v) => v.endsWith(":/data"))).toBe(true);
      expect(svc.ports, "replicas are reached through the balancer only").toBeUndefined();
    }
    expect(advertised.size).toBe(2);
    const nginx = fs.readFileSync(path.join(ROOT, "deploy/nginx-replicas.conf"), "utf8");
    for (const [name] of replicas) expect(nginx).toContain(`server ${name}:3000`);
    expect(nginx).toContain("proxy_buffering off");
    expect((compose.services.balancer!.ports as string[])).toContain("3000:3000");
  });
});
