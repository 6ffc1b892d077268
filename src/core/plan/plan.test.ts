import { describe, expect, test } from "bun:test";
import { candidateParts, cacheUrlFor, finishPlan, isIpv6Address, PLAN_LIMITS, planAll, preparePlan, protoAllows, redirectLimitAllows, scanArgv, serverBaseUrl, type ProbeOutcome } from "./plan.ts";
import { hostIsExempt, proxyFor } from "./proxy.ts";

const BASE = "http://cache:3000";
/** Independent oracle for the cache URL: base64url of the URL up to '#', raw basename, raw query. */
function cache(origin: string, basename: string, query = ""): string {
  const noFragment = origin.split("#")[0]!;
  return `${BASE}/b/${Buffer.from(noFragment).toString("base64url")}/${basename}${query}`;
}

describe("serverBaseUrl", () => {
  test.each([
    ["cache", "http://cache:3000"],
    ["cache:8080", "http://cache:8080"],
    ["10.0.0.5", "http://10.0.0.5:3000"],
    ["[::1]", "http://[::1]:3000"],
    ["[::1]:9", "http://[::1]:9"],
    ["http://cache", "http://cache"],
    ["https://cache.lab/withcache/", "https://cache.lab/withcache"],
    ["HTTP://Cache:1//", "HTTP://Cache:1"],
    ["cache/prefix/", "http://cache:3000/prefix"],
  ])("%s → %s", (input, expected) => expect(serverBaseUrl(input)).toBe(expected));
});

describe("candidateParts", () => {
  const parts = (url: string, globoff = false) => candidateParts("curl", url, { globoff });
  test("basename and query are kept raw; fragment dropped", () => {
    expect(parts("http://h/a/b%20c+d.tgz?x=1&y=%2F#frag")).toEqual({ tokenUrl: "http://h/a/b%20c+d.tgz?x=1&y=%2F", basename: "b%20c+d.tgz", query: "?x=1&y=%2F" });
  });
  test("no path and trailing slash give an empty basename", () => {
    expect(parts("https://h")?.basename).toBe("");
    expect(parts("https://h/dir/")?.basename).toBe("");
    expect(parts("https://h?q=1")).toEqual({ tokenUrl: "https://h?q=1", basename: "", query: "?q=1" });
  });
  test("unicode basename is kept as typed", () => expect(parts("http://h/ü ñ".replace(" ", ""))?.basename).toBe("üñ"));
  test.each([
    ["ftp://h/x"],
    ["file:///etc/passwd"],
    ["h/x.tgz"],
    ["http://user:pw@h/x"],
    ["http:///x"],
    ["http://h/a b"],
    ["http://h/a\\b"],
    ["http://h/x/.."],
    ["http://h/."],
    ["http://h/[1-3].txt"],
    ["http://h/{a,b}.txt"],
  ])("%s is not a candidate", (url) => expect(parts(url)).toBeUndefined());
  test("globs are candidates with -g, and for wget", () => {
    expect(parts("http://h/[1-3].txt", true)?.basename).toBe("[1-3].txt");
    expect(candidateParts("wget", "http://h/{a}.txt", { globoff: false })?.basename).toBe("{a}.txt");
  });
  test("scheme is case-insensitive", () => expect(parts("HTTPS://h/x")?.basename).toBe("x"));
  test("curl: a bracketed IPv6 host is not a glob; other brackets still are", () => {
    expect(parts("http://[::1]:8080/x")?.basename).toBe("x");
    expect(parts("http://[::ffff:127.0.0.1]/x")?.basename).toBe("x");
    expect(parts("http://[::1]:8080/[1-2].x")).toBeUndefined();
    expect(parts("http://[1-2]/x")).toBeUndefined();
    expect(parts("http://h/[::1]/x")).toBeUndefined();
    expect(parts("http://[fe80::1%25eth0]/x")).toBeUndefined(); // zone ids: left to curl
  });
  test("isIpv6Address accepts RFC 4291 text forms only", () => {
    for (const ok of ["::1", "::", "1:2:3:4:5:6:7:8", "fe80::1", "1::", "::ffff:1.2.3.4", "64:ff9b::192.0.2.33", "ABCD:ef01::0:1"]) expect({ ok, valid: isIpv6Address(ok) }).toEqual({ ok, valid: true });
    for (const bad of ["", ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "::1%25eth0", "1-3", "::1.2.3", "::01.2.3.4", "::256.1.1.1", "1.2.3.4::", ":1::", "1:2:3:4:5:6:7::8"]) {
      expect({ bad, valid: isIpv6Address(bad) }).toEqual({ bad, valid: false });
    }
  });
  test("over-long URLs are not candidates", () => expect(parts(`http://h/${"a".repeat(9000)}`)).toBeUndefined());
  test("cacheUrlFor", () => {
    expect(cacheUrlFor(BASE, parts("http://h/x.tgz?a=1#f")!)).toBe(cache("http://h/x.tgz?a=1", "x.tgz", "?a=1"));
  });
});

describe("scanArgv: values are never URLs", () => {
  const urls = (tool: "curl" | "wget", argv: string[]) => {
    const scan = scanArgv(tool, argv);
    return scan.kind === "scan" ? scan.urls.map((u) => u.url) : scan.reason;
  };
  test("curl bundles", () => {
    expect(urls("curl", ["-sSfLo", "http://out", "http://h/x"])).toEqual(["http://h/x"]);
    expect(urls("curl", ["-ohttp://out", "http://h/x"])).toEqual(["http://h/x"]);
    expect(urls("curl", ["-x", "http://proxy:1", "-e", "http://ref", "-H", "X: http://y", "http://h/x"])).toEqual(["http://h/x"]);
  });
  test("curl --url forms and --", () => {
    expect(urls("curl", ["--url", "http://h/a", "--url=http://h/b", "--", "-weird", "http://h/c"])).toEqual(["http://h/a", "http://h/b", "-weird", "http://h/c"]);
  });
  test("curl --no-flag and exact names only", () => {
    expect(urls("curl", ["--no-progress-meter", "http://h/x"])).toEqual(["http://h/x"]);
    expect(urls("curl", ["--verb", "http://h/x"])).toBe("option --verb is unknown");
    expect(urls("curl", ["--URL", "http://h/x"])).toBe("option --URL is unknown");
    expect(urls("curl", ["--no-output", "f", "http://h/x"])).toBe("option --no-output is unknown");
    expect(urls("curl", ["--verbose=1", "http://h/x"])).toBe("option --verbose takes no value");
    expect(urls("curl", ["-", "http://h/x"])).toBe("option - is unknown");
    expect(urls("curl", ["http://h/x", "-o"])).toBe("option -o needs a value");
  });
  test("wget abbreviations, --opt=value, -nv", () => {
    expect(urls("wget", ["--output-doc", "http://o", "http://h/x"])).toEqual(["http://h/x"]);
    expect(urls("wget", ["--output-document=http://o", "-nv", "-qO-", "http://h/x", "--", "-dash"])).toEqual(["http://h/x", "-dash"]);
    expect(urls("wget", ["--us=x", "http://h/x"])).toBe("option --us is ambiguous");
    expect(urls("wget", ["--restrict-file-names", "unix", "http://h/x"])).toEqual(["unix", "http://h/x"]);
    expect(urls("wget", ["-", "http://h/x"])).toEqual(["-", "http://h/x"]);
  });
  test("pass-through options", () => {
    for (const argv of [["-d", "x", "http://h/x"], ["-K", "cfg", "http://h/x"], ["-X", "POST", "http://h/x"], ["-I", "http://h/x"], ["-:", "http://h/x"]]) {
      expect(scanArgv("curl", argv).kind).toBe("passthrough");
    }
    expect(scanArgv("curl", ["-X", "GET", "http://h/x"]).kind).toBe("scan");
    expect(scanArgv("curl", ["--no-include", "http://h/x"]).kind).toBe("scan");
    for (const argv of [["-r", "http://h/x"], ["--recursive=on", "http://h/x"], ["-e", "mirror = on", "http://h/x"], ["-e", "dir_struct=1", "http://h/x"]]) {
      expect(scanArgv("wget", argv).kind).toBe("passthrough");
    }
    expect(scanArgv("wget", ["--recursive=off", "--no-recursive", "-e", "recursive=off", "http://h/x"]).kind).toBe("scan");
  });
  test("limits", () => {
    expect(scanArgv("curl", Array.from({ length: 1025 }, () => "-s")).kind).toBe("passthrough");
    expect(scanArgv("curl", ["x".repeat(65537)]).kind).toBe("passthrough");
  });
});

describe("finishPlan", () => {
  const all = (tool: "curl" | "wget", argv: string[], outcome: ProbeOutcome) => planAll(tool, argv, BASE, outcome);
  test("hit rewrites URL tokens only", () => {
    expect(all("curl", ["-fsSLO", "http://h/a.tgz"], "hit")).toEqual(["-fsSLO", cache("http://h/a.tgz", "a.tgz")]);
    expect(all("curl", ["--url=http://h/a.tgz"], "hit")).toEqual([`--url=${cache("http://h/a.tgz", "a.tgz")}`]);
  });
  test("miss and unreachable leave argv alone", () => {
    for (const outcome of ["miss", "unreachable"] as const) expect(all("curl", ["-O", "http://h/a"], outcome)).toEqual(["-O", "http://h/a"]);
  });
  test("each URL is rewritten on its own", () => {
    const plan = preparePlan("curl", ["-O", "http://h/a", "-O", "http://h/b"], BASE);
    const out = finishPlan(plan, new Map([["http://h/a", "miss"], ["http://h/b", "hit"]]));
    expect(out).toEqual(["-O", "http://h/a", "-O", cache("http://h/b", "b")]);
  });
  test("credentials are dropped only when every URL hits", () => {
    const argv = ["-su", "me:pw", "-H", "Authorization: Bearer t", "-H", "X-Trace: x", "-b", "c=1", "http://h/a", "http://h/b"];
    expect(all("curl", argv, "hit")).toEqual(["-s", "-H", "X-Trace: x", cache("http://h/a", "a"), cache("http://h/b", "b")]);
    const plan = preparePlan("curl", argv, BASE);
    expect(finishPlan(plan, new Map([["http://h/a", "hit"], ["http://h/b", "miss"]]))).toEqual(argv);
  });
  test("a non-candidate URL blocks the credential drop", () => {
    const argv = ["-u", "a:b", "http://h/a", "ftp://h/b"];
    expect(all("curl", argv, "hit")).toEqual(argv);
    expect(all("curl", ["http://h/a", "ftp://h/b"], "hit")).toEqual([cache("http://h/a", "a"), "ftp://h/b"]);
  });
  test("bundled credential letters", () => {
    expect(all("curl", ["-nsS", "http://h/a"], "hit")).toEqual(["-sS", cache("http://h/a", "a")]);
    expect(all("curl", ["-sSuuser:pw", "http://h/a"], "hit")).toEqual(["-sS", cache("http://h/a", "a")]);
    expect(all("curl", ["-uuser:pw", "--oauth2-bearer", "t", "--netrc-file=f", "http://h/a"], "hit")).toEqual([cache("http://h/a", "a")]);
    expect(all("curl", ["-H@headers.txt", "http://h/a"], "hit")).toEqual(["-H@headers.txt", "http://h/a"]); // contents unknown
    expect(all("curl", ["-H", "Accept: application/octet-stream", "http://h/a"], "hit")).toEqual(["-H", "Accept: application/octet-stream", "http://h/a"]);
    expect(all("wget", ["--header", "If-Modified-Since: x", "http://h/a"], "hit")).toEqual(["--header", "If-Modified-Since: x", "http://h/a"]);
  });
  test("wget credentials and -e", () => {
    const argv = ["--user=u", "--password", "p", "--header=Cookie: a=b", "-e", "http_password = x", "-e", "robots=off", "http://h/a"];
    expect(all("wget", argv, "hit")).toEqual(["-e", "robots=off", cache("http://h/a", "a")]);
    expect(all("wget", ["--http-passwo=x", "http://h/a"], "hit")).toEqual([cache("http://h/a", "a")]);
    expect(all("wget", ["--http-pass=x", "http://h/a"], "hit")).toEqual(["--http-pass=x", "http://h/a"]); // ambiguous in wget too
  });
  test("duplicate URLs are probed once and all rewritten", () => {
    const plan = preparePlan("curl", ["http://h/a", "http://h/a"], BASE);
    expect(plan.probes.size).toBe(1);
    expect(finishPlan(plan, new Map([["http://h/a", "hit"]]))).toEqual([cache("http://h/a", "a"), cache("http://h/a", "a")]);
  });
  test("no candidates means no probes", () => {
    expect(preparePlan("curl", ["-K", "cfg"], BASE).probes.size).toBe(0);
    expect(preparePlan("curl", ["ftp://h/x", "h/x"], BASE).probes.size).toBe(0);
  });
  test("a cache URL longer than cache_url_bytes_max is not probed (it could never fit the cache-host's request head)", () => {
    const { cache_url_bytes_max, url_bytes_max } = PLAN_LIMITS;
    const url = (queryBytes: number) => `http://h/f.bin?${"q".repeat(queryBytes)}`;
    let over = 1;
    while (cache(url(over), "f.bin", `?${"q".repeat(over)}`).length <= cache_url_bytes_max) over++;
    expect(url(over).length).toBeLessThan(url_bytes_max); // the cache URL limit is the one that bites
    const fits = preparePlan("curl", [url(over - 1), "http://h/short"], BASE);
    expect([...fits.probes.keys()]).toEqual([url(over - 1), "http://h/short"]);
    expect(fits.probes.get(url(over - 1))!.length).toBeLessThanOrEqual(cache_url_bytes_max);
    const tooLong = preparePlan("curl", [url(over), "http://h/short"], BASE);
    expect([...tooLong.probes.keys()]).toEqual(["http://h/short"]);
    expect(finishPlan(tooLong, new Map([["http://h/short", "hit"]]))).toEqual([url(over), cache("http://h/short", "short")]);
  });
});

describe("curl --proto", () => {
  test.each([
    ["=https", false, true],
    ["=http,https", true, true],
    ["-all,+http", true, false],
    ["-http", false, true],
    ["all", true, true],
    ["=ftp", false, false],
    ["=ftp,+https", false, true],
    ["+-=https", false, true],
    ["-=+http", true, true],
    ["HTTPS", false, false],
    ["http,", false, false],
    ["=https ,http", false, false],
  ])("protoAllows(%p): http %p, https %p", (list, http, https) => {
    expect([protoAllows(list, "http"), protoAllows(list, "https")]).toEqual([http, https]);
  });
  test("a --proto that forbids the cache's scheme: nothing is probed, argv untouched", () => {
    expect(planAll("curl", ["--proto", "=https", "-sSf", "https://h/x"], BASE, "hit")).toEqual(["--proto", "=https", "-sSf", "https://h/x"]);
    expect(planAll("curl", ["--proto", "=https", "https://h/x"], "https://cache", "hit")).toEqual(["--proto", "=https", "https://cache/b/aHR0cHM6Ly9oL3g/x"]);
    expect(planAll("curl", ["--proto==http,https", "https://h/x"], BASE, "hit")).toEqual(["--proto==http,https", cache("https://h/x", "x")]);
    expect(preparePlan("curl", ["--proto", "-all,+http", "--proto", "=https", "https://h/x"], BASE).probes.size).toBe(0);
  });
});

describe("redirected hits: used only when the tool follows redirects itself", () => {
  const X = "https://h/x";
  const rewritten = cache(X, "x");
  test.each([
    ["curl", ["-sSO", X], false],
    ["curl", ["-fsSLO", X], true],
    ["curl", ["--location", X], true],
    ["curl", ["--location-trusted", X], true],
    ["curl", ["-L", "--no-location", X], false],
    ["curl", ["--no-location", "-L", X], true],
    ["curl", ["-L", "--max-redirs", "0", X], false],
    ["curl", ["-L", "--max-redirs", "-1", X], true],
    ["curl", ["-L", "--max-redirs=5", X], true],
    ["curl", ["-L", "--max-redirs", "x", X], false],
    ["wget", [X], true],
    ["wget", ["--max-redirect=0", X], false],
    ["wget", ["--max-redirect", "0", X], false],
    ["wget", ["--max-red=00", X], false],
    ["wget", ["--max-redirect=0", "--max-redirect=3", X], true],
    ["wget", ["-e", "max_redirect=0", X], false],
    ["wget", ["-e", " Max-Redirect = 0 ", X], false],
    ["wget", ["-e", "max_redirect=2", X], true],
  ] as const)("%s %j follows: %p", (tool, argv, follows) => {
    const scan = scanArgv(tool, argv);
    expect(scan.kind === "scan" && scan.followsRedirects).toBe(follows);
    const out = planAll(tool, argv, BASE, "hit-redirected");
    expect(out).toEqual(follows ? [...argv.slice(0, -1), rewritten] : [...argv]);
    // A plain hit is used either way.
    expect(planAll(tool, argv, BASE, "hit").at(-1)).toBe(rewritten);
  });

  test("a redirected hit the tool would not follow counts as a miss for the credentials rule", () => {
    const plan = preparePlan("curl", ["-u", "me:pw", "https://h/a", "https://h/b"], BASE);
    const outcomes = new Map<string, ProbeOutcome>([["https://h/a", "hit"], ["https://h/b", "hit-redirected"]]);
    expect(finishPlan(plan, outcomes)).toEqual(["-u", "me:pw", "https://h/a", "https://h/b"]);
    const followed = preparePlan("curl", ["-L", "-u", "me:pw", "https://h/a", "https://h/b"], BASE);
    expect(finishPlan(followed, outcomes)).toEqual(["-L", cache("https://h/a", "a"), cache("https://h/b", "b")]);
    // Without credentials the plain hit is still rewritten alone.
    const mixed = preparePlan("curl", ["https://h/a", "https://h/b"], BASE);
    expect(finishPlan(mixed, outcomes)).toEqual([cache("https://h/a", "a"), "https://h/b"]);
  });

  test("redirectLimitAllows: only a plain non-zero integer", () => {
    for (const yes of ["1", "20", "-1", "010"]) expect(redirectLimitAllows(yes)).toBe(true);
    for (const no of ["0", "000", "-0", "", " 1", "1x", "+1", "off"]) expect(redirectLimitAllows(no)).toBe(false);
  });
});

describe("proxyFor", () => {
  const url = new URL("http://cache.lab:3000/b/x/y");
  test("curl: http_proxy lower case only, then all_proxy", () => {
    expect(proxyFor("curl", url, { HTTP_PROXY: "http://p:1" })).toEqual({ kind: "direct" });
    expect(proxyFor("curl", url, { http_proxy: "p:1" })).toEqual({ kind: "http", url: "http://p:1" });
    expect(proxyFor("curl", url, { ALL_PROXY: "socks5://p:1" })).toEqual({ kind: "unsupported", url: "socks5://p:1" });
    expect(proxyFor("curl", new URL("https://c/"), { HTTPS_PROXY: "http://p:2" })).toEqual({ kind: "http", url: "http://p:2" });
  });
  test("no_proxy exempts hosts and subdomains", () => {
    expect(proxyFor("curl", url, { http_proxy: "http://p:1", NO_PROXY: "example.com,.lab" })).toEqual({ kind: "direct" });
    expect(proxyFor("wget", url, { http_proxy: "http://p:1", NO_PROXY: "lab" })).toEqual({ kind: "http", url: "http://p:1" });
    expect(proxyFor("wget", url, { http_proxy: "http://p:1", no_proxy: "*" })).toEqual({ kind: "direct" });
    expect(hostIsExempt("notlab", "lab")).toBe(false);
    expect(hostIsExempt("127.0.0.1", "localhost,127.0.0.1")).toBe(true);
  });
});
