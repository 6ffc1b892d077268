// Writes test/corpus/shim-argv.json from the hand-written vectors below. The expected argv are
// written by hand here; C(url) is an independent oracle for a cache URL (base64url of the URL up
// to '#', then the raw last path segment and the raw query), not the planner.
// Run: bun test/corpus/build-corpus.ts
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const SERVER = "http://cache.test:3000";
const U = "http://o.test/pkg/a.tgz";
const U1 = "http://o.test/one.tgz";
const U2 = "http://o.test/two.tgz";
const U3 = "http://o.test/three.tgz";
const S = "https://o.test/x.tgz";

/** README "Candidates": a cache URL longer than this would not fit the cache-host's request head. */
const CACHE_URL_BYTES_MAX = 12288;
/**
 * `http://o.test/q.bin?qqq…` whose cache URL is 64 bytes under the limit (fits), or the same plus
 * one byte over it (too long). The margin: the differential test swaps in a longer server base,
 * which lengthens every cache URL; the exact boundary is unit-tested in both planners.
 */
function longQueryUrl(kind: "fits" | "too long"): string {
  const margin = kind === "fits" ? 64 : -1;
  let n = 1;
  while (C(`http://o.test/q.bin?${"q".repeat(n + 1)}`).length <= CACHE_URL_BYTES_MAX - margin) n++;
  return `http://o.test/q.bin?${"q".repeat(kind === "fits" ? n : n + 1)}`;
}

function C(url: string): string {
  const noFragment = url.split("#")[0]!;
  const q = noFragment.indexOf("?");
  const beforeQuery = q < 0 ? noFragment : noFragment.slice(0, q);
  const query = q < 0 ? "" : noFragment.slice(q);
  const afterScheme = beforeQuery.slice(beforeQuery.indexOf("://") + 3);
  const slash = afterScheme.indexOf("/");
  const path = slash < 0 ? "" : afterScheme.slice(slash);
  const basename = path.split("/").pop() ?? "";
  return `${SERVER}/b/${Buffer.from(noFragment).toString("base64url")}/${basename}${query}`;
}

type Tool = "curl" | "wget";
type Outcome = "hit" | "hit-redirected" | "miss" | "unreachable";
/** [tool, argv, expected on an all-hit ("same" = untouched), note, optional mixed case]. */
type Vector = [Tool, string[], string[] | "same", string, { outcomes: Record<string, Outcome>; expect: string[] | "same" }?];

const curl: Vector[] = [
  // plain use and values that look like URLs
  ["curl", [U], [C(U)], "bare url"],
  ["curl", ["-O", U], ["-O", C(U)], "-O"],
  ["curl", ["-OJ", U], ["-OJ", C(U)], "-OJ bundle"],
  ["curl", ["-o", "out", U], ["-o", "out", C(U)], "-o value"],
  ["curl", ["-ohttp://o.test/not-a-url", U], ["-ohttp://o.test/not-a-url", C(U)], "attached -o value looks like a url"],
  ["curl", ["-sSfLo", "http://o.test/out", U], ["-sSfLo", "http://o.test/out", C(U)], "bundle ending in -o takes next arg"],
  ["curl", ["-sSfL", "-o", "out.tgz", U], ["-sSfL", "-o", "out.tgz", C(U)], "common ci form"],
  ["curl", [U, "-o", "out"], [C(U), "-o", "out"], "options after the url"],
  ["curl", ["--output", "http://o.test/x", U], ["--output", "http://o.test/x", C(U)], "--output value"],
  ["curl", ["--url", U], ["--url", C(U)], "--url VALUE"],
  ["curl", [`--url=${U}`], [`--url=${C(U)}`], "--url=VALUE (curl 8.15+)"],
  ["curl", ["--", U], ["--", C(U)], "-- then url"],
  ["curl", ["--", "-O", U], ["--", "-O", C(U)], "after --, -O is an operand"],
  ["curl", ["-x", "http://proxy.test:3128", U], ["-x", "http://proxy.test:3128", C(U)], "-x proxy value"],
  ["curl", ["--proxy", "http://proxy.test:3128", U], ["--proxy", "http://proxy.test:3128", C(U)], "--proxy value"],
  ["curl", ["-xhttp://proxy.test:3128", U], ["-xhttp://proxy.test:3128", C(U)], "attached -x"],
  ["curl", ["-e", "http://ref.test/", U], ["-e", "http://ref.test/", C(U)], "-e referer"],
  ["curl", ["--referer", "http://ref.test/", U], ["--referer", "http://ref.test/", C(U)], "--referer"],
  ["curl", ["-H", "X-Url: http://o.test/h", U], ["-H", "X-Url: http://o.test/h", C(U)], "-H value with url"],
  ["curl", ["-A", "http://agent", U], ["-A", "http://agent", C(U)], "-A"],
  ["curl", ["--cacert", "http://ca", S], ["--cacert", "http://ca", C(S)], "--cacert"],
  ["curl", ["-w", "%{url_effective}\n", U], ["-w", "%{url_effective}\n", C(U)], "-w format"],
  ["curl", ["-C", "-", "-O", U], ["-C", "-", "-O", C(U)], "-C - resume"],
  ["curl", ["-r", "0-99", U], ["-r", "0-99", C(U)], "-r range"],
  ["curl", ["--limit-rate", "1M", U], ["--limit-rate", "1M", C(U)], "--limit-rate"],
  ["curl", ["-m", "30", "--connect-timeout", "5", U], ["-m", "30", "--connect-timeout", "5", C(U)], "timeouts"],
  ["curl", ["-#", "-O", U], ["-#", "-O", C(U)], "progress bar"],
  ["curl", ["-4", "-6", U], ["-4", "-6", C(U)], "ip versions"],
  ["curl", ["--retry", "3", "--retry-delay", "1", U], ["--retry", "3", "--retry-delay", "1", C(U)], "retry"],
  ["curl", ["-y", "10", "-Y", "1000", U], ["-y", "10", "-Y", "1000", C(U)], "speed limits"],
  ["curl", ["--compressed", U], ["--compressed", C(U)], "--compressed"],
  ["curl", ["-k", S], ["-k", C(S)], "https insecure"],
  ["curl", ["-LOJ", "--max-redirs", "5", U], ["-LOJ", "--max-redirs", "5", C(U)], "-LOJ"],
  ["curl", ["--create-dirs", "-o", "a/b/c", U], ["--create-dirs", "-o", "a/b/c", C(U)], "--create-dirs"],
  ["curl", ["--output-dir", "dl", "-O", U], ["--output-dir", "dl", "-O", C(U)], "--output-dir"],
  ["curl", ["-R", "-O", U], ["-R", "-O", C(U)], "-R"],
  ["curl", ["--no-progress-meter", U], ["--no-progress-meter", C(U)], "--no-progress-meter"],
  ["curl", ["--no-buffer", U], ["--no-buffer", C(U)], "--no-buffer"],
  ["curl", ["-N", U], ["-N", C(U)], "-N"],
  ["curl", ["--noproxy", "*", U], ["--noproxy", "*", C(U)], "--noproxy value"],
  ["curl", ["--resolve", "o.test:80:127.0.0.1", U], "same", "--resolve: the origin is reached elsewhere, pass-through"],
  ["curl", ["--connect-to", "::127.0.0.1:8080", U], "same", "--connect-to: pass-through"],
  ["curl", ["--unix-socket", "/run/docker.sock", "http://localhost/v1.41/info"], "same", "--unix-socket: pass-through"],
  ["curl", ["--http2-prior-knowledge", U], "same", "--http2-prior-knowledge: h2c to an http/1.1 cache fails (exit 55)"],
  ["curl", ["--no-http2-prior-knowledge", U], ["--no-http2-prior-knowledge", C(U)], "--no-http2-prior-knowledge"],
  ["curl", ["--haproxy-protocol", U], "same", "--haproxy-protocol: the cache answers 400"],
  ["curl", ["-X", "GET", U], ["-X", "GET", C(U)], "-X GET is a download"],
  ["curl", ["-XGET", U], ["-XGET", C(U)], "-XGET attached"],
  ["curl", ["--fail-with-body", "--retry-all-errors", U], ["--fail-with-body", "--retry-all-errors", C(U)], "newer flags"],
  ["curl", ["-Z", "--parallel-max", "4", U1, U2], ["-Z", "--parallel-max", "4", C(U1), C(U2)], "parallel"],
  ["curl", ["--proto", "=https", S], "same", "--proto value (=https forbids the http cache)"],
  ["curl", ["-q", "-s", U], ["-q", "-s", C(U)], "-q first"],
  ["curl", ["--stderr", "-", U], ["--stderr", "-", C(U)], "--stderr -"],
  ["curl", ["-v", "--trace-ascii", "t.txt", U], ["-v", "--trace-ascii", "t.txt", C(U)], "tracing"],
  // requests that are not plain downloads, or outputs that show headers: untouched
  ["curl", ["-X", "POST", U], "same", "-X POST"],
  ["curl", ["--request", "HEAD", U], "same", "--request HEAD"],
  ["curl", ["-X", "get", U], "same", "method match is case-sensitive"],
  ["curl", ["-d", "a=1", U], "same", "-d"],
  ["curl", ["--data-binary", "@file", U], "same", "--data-binary"],
  ["curl", ["-F", "f=@x", U], "same", "-F"],
  ["curl", ["--json", "{}", U], "same", "--json"],
  ["curl", ["-T", "file", U], "same", "-T upload"],
  ["curl", ["-I", U], "same", "-I"],
  ["curl", ["--head", U], "same", "--head"],
  ["curl", ["-i", U], "same", "-i headers in output"],
  ["curl", ["-sSi", U], "same", "-i in a bundle"],
  ["curl", ["-D", "-", U], "same", "-D"],
  ["curl", ["-G", "-d", "q=1", U], "same", "-G"],
  ["curl", ["--url-query", "a=b", U], "same", "--url-query"],
  ["curl", ["-z", "file", U], "same", "-z time condition"],
  ["curl", ["--etag-save", "e", U], "same", "--etag-save"],
  ["curl", ["--xattr", "-O", U], "same", "--xattr stores the url"],
  ["curl", ["--path-as-is", U], "same", "--path-as-is"],
  ["curl", ["-K", "cfg", U], "same", "-K config"],
  ["curl", ["--config", "cfg", U], "same", "--config"],
  ["curl", ["-K-", U], "same", "-K - (stdin)"],
  ["curl", [U1, "--next", U2], "same", "--next groups"],
  ["curl", [U1, "-:", U2], "same", "-: groups"],
  ["curl", ["-h"], "same", "help"],
  ["curl", ["--help", "all"], "same", "help all"],
  ["curl", ["-V"], "same", "version"],
  ["curl", ["--no-include", U], ["--no-include", C(U)], "negated pass-through flag"],
  // several URLs
  ["curl", [U1, U2], [C(U1), C(U2)], "two urls"],
  ["curl", ["-O", U1, "-O", U2], ["-O", C(U1), "-O", C(U2)], "two -O", { outcomes: { [U1]: "miss", [U2]: "hit" }, expect: ["-O", U1, "-O", C(U2)] }],
  ["curl", ["--remote-name-all", U1, U2, U3], ["--remote-name-all", C(U1), C(U2), C(U3)], "three urls", { outcomes: { [U1]: "hit", [U2]: "unreachable", [U3]: "hit" }, expect: ["--remote-name-all", C(U1), U2, C(U3)] }],
  ["curl", [U1, "ftp://o.test/f"], [C(U1), "ftp://o.test/f"], "http and ftp"],
  ["curl", ["o.test/no-scheme", U], ["o.test/no-scheme", C(U)], "scheme-less url is left alone"],
  ["curl", [U, U], [C(U), C(U)], "duplicate url"],
  ["curl", ["--url", U1, U2, `--url=${U3}`], ["--url", C(U1), C(U2), `--url=${C(U3)}`], "mixed url forms"],
  // globs
  ["curl", ["http://o.test/f[1-3].txt"], "same", "glob range"],
  ["curl", ["-g", "http://o.test/f[1-3].txt"], ["-g", C("http://o.test/f[1-3].txt")], "-g"],
  ["curl", ["--globoff", "http://o.test/f[1-3].txt"], ["--globoff", C("http://o.test/f[1-3].txt")], "--globoff"],
  ["curl", ["http://o.test/f[1-3].txt", "-g"], [C("http://o.test/f[1-3].txt"), "-g"], "-g after the url"],
  ["curl", ["http://o.test/{a,b}.txt", U], ["http://o.test/{a,b}.txt", C(U)], "glob list next to a plain url"],
  ["curl", ["-g", "--no-globoff", "http://o.test/f[1].txt"], "same", "--no-globoff wins when last"],
  ["curl", ["-gO", "http://o.test/a[1].txt"], ["-gO", C("http://o.test/a[1].txt")], "-g bundled"],
  ["curl", ["-O", "http://[::1]:8080/x.tgz"], ["-O", C("http://[::1]:8080/x.tgz")], "ipv6 literal host: curl does not glob it"],
  ["curl", ["http://[::ffff:10.0.0.1]/x.tgz"], [C("http://[::ffff:10.0.0.1]/x.tgz")], "ipv6 literal host with an ipv4 tail"],
  ["curl", ["http://[::1]:8080/f[1-3].txt"], "same", "ipv6 literal host plus a real glob"],
  ["curl", ["http://[1-3]/x.tgz"], "same", "bracketed range in the host is a glob"],
  ["curl", ["http://o.test/[::1]/x.tgz"], "same", "brackets after the host still count as a glob"],
  ["curl", ["http://[fe80::1%25eth0]:8080/x.tgz"], "same", "ipv6 zone id: left to curl"],
  ["curl", ["-g", "http://[::1]:8080/x.tgz"], ["-g", C("http://[::1]:8080/x.tgz")], "ipv6 with -g"],
  // --proto: a cache URL whose scheme it forbids would make curl exit 1
  ["curl", ["--proto", "=https", "--tlsv1.2", "-sSf", S], "same", "--proto =https forbids the http cache (rustup's install line)"],
  ["curl", ["--proto", "=http,https", "-O", S], ["--proto", "=http,https", "-O", C(S)], "--proto allowing http"],
  ["curl", ["--proto=-all,+http,+https", U], ["--proto=-all,+http,+https", C(U)], "--proto=value allowing http"],
  ["curl", ["--proto", "-http", S], "same", "--proto removing http"],
  ["curl", ["--proto", "=https", "--proto", "+http", U], "same", "any --proto that forbids the cache's scheme passes through"],
  ["curl", ["--proto", "HTTP", U], "same", "--proto in upper case: left to curl"],
  ["curl", ["--proto-redir", "=https", U], [ "--proto-redir", "=https", C(U)], "--proto-redir does not matter (the cache does not redirect)"],
  // schemes
  ["curl", ["ftp://o.test/x"], "same", "ftp"],
  ["curl", ["file:///etc/hosts"], "same", "file"],
  ["curl", ["sftp://o.test/x"], "same", "sftp"],
  ["curl", ["HTTPS://O.test/X.tgz"], [C("HTTPS://O.test/X.tgz")], "upper-case scheme"],
  ["curl", [S], [C(S)], "https"],
  ["curl", ["http://o.test:8080/x.tgz"], [C("http://o.test:8080/x.tgz")], "port"],
  ["curl", ["http://user:pw@o.test/x"], "same", "credentials in the url"],
  ["curl", ["http://@o.test/x"], "same", "empty userinfo"],
  // credentials
  ["curl", ["-u", "me:pw", U], [C(U)], "-u dropped on hit", { outcomes: { [U]: "miss" }, expect: "same" }],
  ["curl", ["-u", "me:pw", U, "ftp://o.test/x"], "same", "a non-http url keeps credentials"],
  ["curl", ["--user", "me", U], [C(U)], "--user"],
  ["curl", ["--user=me:pw", U], [C(U)], "--user="],
  ["curl", ["-su", "me:pw", U], ["-s", C(U)], "-u in a bundle"],
  ["curl", ["-sSuuser:pw", "-O", U], ["-sS", "-O", C(U)], "-u with attached value in a bundle"],
  ["curl", ["-uuser:pw", U], [C(U)], "-u attached"],
  ["curl", ["-n", U], [C(U)], "-n"],
  ["curl", ["--netrc", U], [C(U)], "--netrc"],
  ["curl", ["--netrc-optional", U], [C(U)], "--netrc-optional"],
  ["curl", ["--netrc-file", "/x/netrc", U], [C(U)], "--netrc-file"],
  ["curl", ["--no-netrc", U], ["--no-netrc", C(U)], "--no-netrc is not a credential"],
  ["curl", ["--oauth2-bearer", "tok", U], [C(U)], "--oauth2-bearer"],
  ["curl", ["-H", "Authorization: Bearer x", U], [C(U)], "Authorization header"],
  ["curl", ["-H", "authorization:x", U], [C(U)], "header name case"],
  ["curl", ["-H", "Cookie: a=b", "-H", "X-Trace: 1", U], ["-H", "X-Trace: 1", C(U)], "Cookie header dropped, other header kept"],
  ["curl", ["-L", "-H", "Accept: application/octet-stream", U], "same", "Accept selects the representation (GitHub asset API): pass-through"],
  ["curl", ["-H", "Host: other.test", U], "same", "Host header: another virtual host, pass-through"],
  ["curl", ["-H", 'If-None-Match: "x"', U], "same", "conditional header: pass-through"],
  ["curl", ["-H", " accept-ENCODING ;", U], "same", "Accept-Encoding with odd spacing and case: pass-through"],
  ["curl", ["-H", "Accept-Foo: 1", U], ["-H", "Accept-Foo: 1", C(U)], "a header that only starts like accept"],
  ["curl", ["-H", "Authorization;", U], [C(U)], "empty header form"],
  ["curl", ["-b", "a=b", U], [C(U)], "-b cookie"],
  ["curl", ["--cookie", "jar.txt", "-c", "out.txt", U], "same", "cookie jar write: the origin's Set-Cookie would be missing, pass-through"],
  ["curl", ["--cookie-jar=out.txt", "-sO", U], "same", "--cookie-jar=: pass-through"],
  ["curl", ["--hsts", "hsts.txt", U], "same", "--hsts cache file: pass-through"],
  ["curl", ["--alt-svc", "altsvc.txt", U], "same", "--alt-svc cache file: pass-through"],
  ["curl", ["-H", "@headers.txt", U], "same", "headers from a file: contents unknown, pass-through"],
  ["curl", ["-H", "Proxy-Authorization: Basic x", U], ["-H", "Proxy-Authorization: Basic x", C(U)], "proxy credentials are not origin credentials"],
  ["curl", ["-U", "p:w", "-x", "http://proxy.test:1", U], ["-U", "p:w", "-x", "http://proxy.test:1", C(U)], "-U proxy user kept"],
  ["curl", ["-E", "cert.pem", S], [C(S)], "client certificate"],
  ["curl", ["--cert", "c.pem", "--key", "k.pem", "--pass", "x", S], [C(S)], "cert, key, pass"],
  ["curl", ["-u", "a:b", U1, U2], [C(U1), C(U2)], "credentials with two hits", { outcomes: { [U1]: "hit", [U2]: "miss" }, expect: "same" }],
  ["curl", ["--aws-sigv4", "aws:amz", U], [C(U)], "--aws-sigv4"],
  ["curl", ["-Hauthorization: x", U], [C(U)], "attached -H credential"],
  ["curl", ["-sH", "Cookie: x", U], ["-s", C(U)], "-H in a bundle"],
  ["curl", ["-vnsS", U], ["-vsS", C(U)], "-n in the middle of a bundle"],
  ["curl", ["--location-trusted", "-u", "a:b", U], ["--location-trusted", C(U)], "--location-trusted kept"],
  ["curl", ["-u", "a:b", "-K", "cfg", U], "same", "config file wins"],
  ["curl", ["-nu", "x", U], [C(U)], "bundle of only credentials is dropped"],
  // odd names
  ["curl", ["-O", "http://o.test/a%20b.tgz"], ["-O", C("http://o.test/a%20b.tgz")], "%20 kept raw"],
  ["curl", ["-O", "http://o.test/c+d.tgz"], ["-O", C("http://o.test/c+d.tgz")], "plus"],
  ["curl", ["-O", "http://o.test/ü.bin"], ["-O", C("http://o.test/ü.bin")], "unicode"],
  ["curl", ["-O", "http://o.test/dir/"], ["-O", C("http://o.test/dir/")], "trailing slash"],
  ["curl", ["-O", "http://o.test"], ["-O", C("http://o.test")], "no path"],
  ["curl", ["-O", "http://o.test/f.tgz?x=1&y=2"], ["-O", C("http://o.test/f.tgz?x=1&y=2")], "query kept after the name"],
  ["curl", ["-O", "http://o.test/f.tgz#frag"], ["-O", C("http://o.test/f.tgz#frag")], "fragment dropped"],
  ["curl", ["-O", "http://o.test/?q=1"], ["-O", C("http://o.test/?q=1")], "query, no name"],
  ["curl", ["-O", "http://o.test/a/../b.tgz"], ["-O", C("http://o.test/a/../b.tgz")], "dot segments in the middle"],
  ["curl", ["http://o.test/x/.."], "same", "name .."],
  ["curl", ["http://o.test/."], "same", "name ."],
  ["curl", ["http://o.test/a b"], "same", "space"],
  ["curl", ["http://o.test/a\\b"], "same", "backslash"],
  ["curl", [`http://o.test/${"a".repeat(8200)}`], "same", "longer than url_bytes_max"],
  ["curl", ["-O", longQueryUrl("fits"), U], ["-O", C(longQueryUrl("fits")), C(U)], "long query: cache url just under cache_url_bytes_max"],
  ["curl", ["-O", longQueryUrl("too long"), U], ["-O", longQueryUrl("too long"), C(U)], "long query: cache url over cache_url_bytes_max is not probed"],
  ["curl", ["-O", `http://o.test/${"a".repeat(200)}.tgz`], ["-O", C(`http://o.test/${"a".repeat(200)}.tgz`)], "long name"],
  // what curl itself rejects: untouched
  ["curl", ["--verb", U], "same", "abbreviation (curl 8.6+ rejects)"],
  ["curl", ["--URL", U], "same", "upper-case long option"],
  ["curl", ["-", U], "same", "lone dash"],
  ["curl", [U, "-o"], "same", "missing value"],
  ["curl", ["--no-output", "x", U], "same", "--no- on a value option"],
  ["curl", ["--verbose=yes", U], "same", "flag with a value"],
  ["curl", ["-W", U], "same", "unknown letter"],
  ["curl", ["--bogus", U], "same", "unknown long option"],
  ["curl", [U, "--proxy"], "same", "missing --proxy value"],
  ["curl", [], "same", "no arguments"],
];

const wget: Vector[] = [
  ["wget", [U], [C(U)], "bare url"],
  ["wget", ["-q", U], ["-q", C(U)], "-q"],
  ["wget", ["-qO-", U], ["-qO-", C(U)], "-qO- bundle"],
  ["wget", ["-O", "out", U], ["-O", "out", C(U)], "-O value"],
  ["wget", ["-Oout", U], ["-Oout", C(U)], "-O attached"],
  ["wget", ["--output-document=http://o.test/x", U], ["--output-document=http://o.test/x", C(U)], "--opt=value looks like a url"],
  ["wget", ["--output-document", "http://o.test/x", U], ["--output-document", "http://o.test/x", C(U)], "--opt value"],
  ["wget", ["--output-doc=x", U], ["--output-doc=x", C(U)], "unique abbreviation"],
  ["wget", ["-o", "log", U], ["-o", "log", C(U)], "-o log"],
  ["wget", ["-a", "log", U], ["-a", "log", C(U)], "-a log"],
  ["wget", ["-P", "dir", U], ["-P", "dir", C(U)], "-P"],
  ["wget", ["--directory-prefix=dir", U], ["--directory-prefix=dir", C(U)], "--directory-prefix="],
  ["wget", ["-nv", U], ["-nv", C(U)], "-nv"],
  ["wget", ["-nc", U], ["-nc", C(U)], "-nc"],
  ["wget", ["-nd", U], ["-nd", C(U)], "-nd"],
  ["wget", ["-nH", "--cut-dirs=2", U], ["-nH", "--cut-dirs=2", C(U)], "-nH --cut-dirs"],
  ["wget", ["-c", U], ["-c", C(U)], "-c"],
  ["wget", ["-N", U], ["-N", C(U)], "-N"],
  ["wget", ["-t", "3", "-T", "10", U], ["-t", "3", "-T", "10", C(U)], "-t -T"],
  ["wget", ["--tries=3", U], ["--tries=3", C(U)], "--tries="],
  ["wget", ["-w", "1", U], ["-w", "1", C(U)], "-w"],
  ["wget", ["--limit-rate=1m", U], ["--limit-rate=1m", C(U)], "--limit-rate"],
  ["wget", ["-U", "http://agent", U], ["-U", "http://agent", C(U)], "-U"],
  ["wget", ["--user-agent", "x", U], ["--user-agent", "x", C(U)], "--user-agent"],
  ["wget", ["--referer=http://ref.test/", U], ["--referer=http://ref.test/", C(U)], "--referer="],
  ["wget", ["--header", "X-A: http://x", U], ["--header", "X-A: http://x", C(U)], "--header value with url"],
  ["wget", ["--header=X-Trace: 1", U], ["--header=X-Trace: 1", C(U)], "--header="],
  ["wget", ["--header=Accept: application/json", U], "same", "--header=Accept: pass-through"],
  ["wget", ["--spider", U], "same", "--spider checks the origin (a hit would say the cache has it; a miss would start a fill)"],
  ["wget", ["-q", "--spider=off", U], ["-q", "--spider=off", C(U)], "--spider=off"],
  ["wget", ["-e", "spider=on", U], "same", "-e spider=on"],
  ["wget", ["-e", "robots=off", U], ["-e", "robots=off", C(U)], "-e robots"],
  ["wget", ["--execute", "robots=off", U], ["--execute", "robots=off", C(U)], "--execute"],
  ["wget", ["--execute=use_proxy=off", U], ["--execute=use_proxy=off", C(U)], "--execute="],
  ["wget", ["-erobots=off", U], ["-erobots=off", C(U)], "-e attached"],
  ["wget", ["-Y", "off", U], ["-Y", "off", C(U)], "-Y value"],
  ["wget", ["--no-proxy", U], ["--no-proxy", C(U)], "--no-proxy"],
  ["wget", ["--no-check-certificate", S], ["--no-check-certificate", C(S)], "https"],
  ["wget", ["--ca-certificate=ca.pem", S], ["--ca-certificate=ca.pem", C(S)], "--ca-certificate"],
  ["wget", ["--restrict-file-names", "unix", U], ["--restrict-file-names", "unix", C(U)], "a boolean-typed option: next arg is an operand"],
  ["wget", ["--restrict-file-names=unix", U], ["--restrict-file-names=unix", C(U)], "--restrict-file-names="],
  ["wget", ["--content-disposition", U], ["--content-disposition", C(U)], "--content-disposition"],
  ["wget", ["--progress=dot:mega", U], ["--progress=dot:mega", C(U)], "--progress"],
  ["wget", ["--show-progress", "-q", U], ["--show-progress", "-q", C(U)], "--show-progress"],
  ["wget", ["-i", "list.txt", U], ["-i", "list.txt", C(U)], "-i file plus url"],
  ["wget", ["-i", "list.txt"], "same", "-i only"],
  ["wget", ["-B", "http://o.test/base/", "-i", "l", U], ["-B", "http://o.test/base/", "-i", "l", C(U)], "-B value"],
  ["wget", ["-b", U], ["-b", C(U)], "background"],
  ["wget", ["--", U], ["--", C(U)], "--"],
  ["wget", ["--", "-q", U], ["--", "-q", C(U)], "after -- an operand"],
  ["wget", [U, "-O", "x"], [C(U), "-O", "x"], "options after the url"],
  ["wget", [U1, U2], [C(U1), C(U2)], "two urls", { outcomes: { [U1]: "hit", [U2]: "miss" }, expect: [C(U1), U2] }],
  ["wget", [U1, "ftp://o.test/f", U2], [C(U1), "ftp://o.test/f", C(U2)], "ftp in the middle"],
  ["wget", ["o.test/noscheme"], "same", "scheme-less"],
  ["wget", ["http://o.test/f[1].txt"], [C("http://o.test/f[1].txt")], "wget does not glob http"],
  ["wget", ["http://o.test/{a}.txt"], [C("http://o.test/{a}.txt")], "braces"],
  ["wget", ["-4", "--prefer-family=IPv4", U], ["-4", "--prefer-family=IPv4", C(U)], "address family"],
  ["wget", ["-S", U], ["-S", C(U)], "-S server response to stderr"],
  ["wget", ["-d", U], ["-d", C(U)], "-d"],
  ["wget", ["--no-verbose", U], ["--no-verbose", C(U)], "--no-verbose"],
  ["wget", ["--no", "v", U], ["--no", "v", C(U)], "--no VALUE"],
  ["wget", ["--verb", U], ["--verb", C(U)], "--verb is --verbose"],
  ["wget", ["--quiet=off", U], ["--quiet=off", C(U)], "boolean =off"],
  ["wget", ["-", U], ["-", C(U)], "lone dash is an operand"],
  // pass-through
  ["wget", ["-r", U], "same", "-r"],
  ["wget", ["--recursive", U], "same", "--recursive"],
  ["wget", ["--recursive=off", U], ["--recursive=off", C(U)], "--recursive=off"],
  ["wget", ["--no-recursive", U], ["--no-recursive", C(U)], "--no-recursive"],
  ["wget", ["-m", U], "same", "-m"],
  ["wget", ["-p", U], "same", "-p"],
  ["wget", ["-x", U], "same", "-x"],
  ["wget", ["-qx", U], "same", "-x in a bundle"],
  ["wget", ["--force-directories", U], "same", "--force-directories"],
  ["wget", ["--directories", U], "same", "--directories"],
  ["wget", ["--protocol-directories", U], "same", "--protocol-directories"],
  ["wget", ["-k", U], "same", "-k"],
  ["wget", ["--post-data=a=1", U], "same", "--post-data"],
  ["wget", ["--method=POST", U], "same", "--method"],
  ["wget", ["--body-data", "x", U], "same", "--body-data"],
  ["wget", ["--save-headers", U], "same", "--save-headers"],
  ["wget", ["--trust-server-names", U], "same", "--trust-server-names"],
  ["wget", ["--config", "rc", U], "same", "--config"],
  ["wget", ["--warc-file=w", U], "same", "--warc-file"],
  ["wget", ["-e", "recursive=on", U], "same", "-e recursive=on"],
  ["wget", ["-e", "mirror = on", U], "same", "-e mirror"],
  ["wget", ["-e", "dir_struct=1", U], "same", "-e dir_struct"],
  ["wget", ["-e", "recursive=off", U], ["-e", "recursive=off", C(U)], "-e recursive=off"],
  ["wget", ["-e", "post-data=a", U], "same", "-e post-data"],
  ["wget", ["-h"], "same", "-h"],
  ["wget", ["-V"], "same", "-V"],
  ["wget", ["--help"], "same", "--help"],
  // credentials
  ["wget", ["--user=me", "--password=pw", U], [C(U)], "--user --password", { outcomes: { [U]: "unreachable" }, expect: "same" }],
  ["wget", ["--user", "me", "--password", "pw", U], [C(U)], "separate values"],
  ["wget", ["--http-user=me", "--http-password=pw", U], [C(U)], "--http-user"],
  ["wget", ["--http-passwd=pw", U], [C(U)], "--http-passwd (old name)"],
  ["wget", ["--http-passwo=pw", U], [C(U)], "abbreviated --http-password"],
  ["wget", ["--header=Authorization: Bearer x", U], [C(U)], "Authorization header"],
  ["wget", ["--header", "Cookie: a=b", U], [C(U)], "Cookie header"],
  ["wget", ["--load-cookies", "c.txt", U], [C(U)], "--load-cookies"],
  ["wget", ["--load-cookies=c.txt", "--save-cookies=s.txt", U], "same", "--save-cookies: the origin's cookies would be missing, pass-through"],
  ["wget", ["-e", "save_cookies=s.txt", U], "same", "-e save_cookies: pass-through"],
  ["wget", ["--ask-password", "--user=me", U], [C(U)], "--ask-password"],
  ["wget", ["--no-ask-password", U], ["--no-ask-password", C(U)], "--no-ask-password kept"],
  ["wget", ["-e", "http_user=me", "-e", "http_password=pw", U], [C(U)], "-e credentials"],
  ["wget", ["-e", "header = Authorization: x", U], [C(U)], "-e header credential"],
  ["wget", ["-e", "header=X-Trace: x", U], ["-e", "header=X-Trace: x", C(U)], "-e header kept"],
  ["wget", ["-e", "header = Accept-Language: de", U], "same", "-e header=Accept-Language: pass-through"],
  ["wget", ["--user=me", U, "ftp://o.test/x"], "same", "credentials with an ftp url"],
  ["wget", ["--user=me", U1, U2], [C(U1), C(U2)], "credentials, two urls", { outcomes: { [U1]: "hit", [U2]: "miss" }, expect: "same" }],
  ["wget", ["--certificate=c.pem", "--private-key=k.pem", S], [C(S)], "client certificate"],
  ["wget", ["--use-askpass=/bin/ask", U], [C(U)], "--use-askpass"],
  ["wget", ["--ftp-user=me", U], ["--ftp-user=me", C(U)], "ftp credentials are not http ones"],
  ["wget", ["--proxy-user=me", "--proxy-password=x", U], ["--proxy-user=me", "--proxy-password=x", C(U)], "proxy credentials kept"],
  ["wget", ["http://me:pw@o.test/x"], "same", "credentials in the url"],
  // what wget rejects
  ["wget", ["--us=x", U], "same", "ambiguous abbreviation"],
  ["wget", ["--http-pass=x", U], "same", "ambiguous: --http-passwd / --http-password"],
  ["wget", ["--bogus", U], "same", "unknown"],
  ["wget", ["-W", U], "same", "unknown letter"],
  ["wget", [U, "-O"], "same", "missing value"],
  // odd names
  ["wget", ["http://o.test/a%20b.tgz"], [C("http://o.test/a%20b.tgz")], "%20"],
  ["wget", ["http://o.test/c+d.tgz"], [C("http://o.test/c+d.tgz")], "plus"],
  ["wget", ["http://o.test/ü.bin"], [C("http://o.test/ü.bin")], "unicode"],
  ["wget", ["http://o.test/dir/"], [C("http://o.test/dir/")], "trailing slash"],
  ["wget", ["http://o.test"], [C("http://o.test")], "no path"],
  ["wget", ["http://o.test/f.tgz?x=1&y=2"], [C("http://o.test/f.tgz?x=1&y=2")], "query"],
  ["wget", ["http://o.test/f.tgz#frag"], [C("http://o.test/f.tgz#frag")], "fragment"],
  ["wget", ["HTTP://o.test/UP.TGZ"], [C("HTTP://o.test/UP.TGZ")], "upper-case scheme"],
  ["wget", ["http://[::1]:8080/x.tgz"], [C("http://[::1]:8080/x.tgz")], "ipv6 literal host"],
  ["wget", [longQueryUrl("fits")], [C(longQueryUrl("fits"))], "long query: cache url just under cache_url_bytes_max"],
  ["wget", [longQueryUrl("too long"), U], [longQueryUrl("too long"), C(U)], "long query: cache url over cache_url_bytes_max is not probed"],
];

// Redirected hits (the fill followed a redirect): used only when the tool follows redirects itself.
const R = "http://o.test/moved.tgz";
const redirects: Vector[] = [
  ["curl", ["-sSO", R], [`-sSO`, C(R)], "no -L: a redirected hit is not used"],
  ["curl", ["-fsSLO", R], ["-fsSLO", C(R)], "-L in a bundle: a redirected hit is used"],
  ["curl", ["--location", "-O", R], ["--location", "-O", C(R)], "--location"],
  ["curl", ["-L", "--no-location", R], ["-L", "--no-location", C(R)], "--no-location after -L turns following off"],
  ["curl", ["--no-location", "-L", R], ["--no-location", "-L", C(R)], "-L after --no-location turns it back on"],
  ["curl", ["-L", "--max-redirs", "0", R], ["-L", "--max-redirs", "0", C(R)], "-L --max-redirs 0 follows nothing"],
  ["curl", ["-L", "--max-redirs=-1", R], ["-L", "--max-redirs=-1", C(R)], "--max-redirs -1 is no limit"],
  ["curl", ["-oL", R], ["-oL", C(R)], "-oL: L is -o's value, not --location"],
  ["curl", ["-u", "a:b", U, R], [C(U), C(R)], "credentials: a redirected hit without -L is not a hit", { outcomes: { [U]: "hit", [R]: "hit-redirected" }, expect: "same" }],
  ["curl", ["-L", "-u", "a:b", U, R], ["-L", C(U), C(R)], "credentials with -L: every url hits", { outcomes: { [U]: "hit", [R]: "hit-redirected" }, expect: ["-L", C(U), C(R)] }],
  ["curl", ["-O", U, "-O", R], ["-O", C(U), "-O", C(R)], "per url: the plain hit is used, the redirected one not", { outcomes: { [U]: "hit", [R]: "hit-redirected" }, expect: ["-O", C(U), "-O", R] }],
  ["wget", [R], [C(R)], "wget follows by default"],
  ["wget", ["--max-redirect=0", R], ["--max-redirect=0", C(R)], "--max-redirect=0"],
  ["wget", ["--max-redirect", "0", R], ["--max-redirect", "0", C(R)], "--max-redirect 0"],
  ["wget", ["-e", "max_redirect=0", R], ["-e", "max_redirect=0", C(R)], "-e max_redirect=0"],
  ["wget", ["--max-redirect=0", "-e", "maxredirect = 3", R], ["--max-redirect=0", "-e", "maxredirect = 3", C(R)], "the last limit wins"],
  ["wget", ["--max-redirect=0", U, R], ["--max-redirect=0", C(U), C(R)], "per url under --max-redirect=0", { outcomes: { [U]: "hit", [R]: "hit-redirected" }, expect: ["--max-redirect=0", C(U), R] }],
];

/**
 * By hand, as plain string checks (not the planner): does the tool follow redirects for this
 * argv? curl: an `-L` (alone or in a flag bundle), `--location` or `--location-trusted` not
 * undone by a later `--no-location`, and no `--max-redirs 0`; wget: unless `--max-redirect=0`,
 * `--max-redirect 0` or `-e max_redirect=0` is the last limit given.
 */
function followsByHand(tool: Tool, argv: string[]): boolean {
  let follows = tool === "wget";
  let limitAllows = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") break;
    if (tool === "curl") {
      if (a === "-L" || a === "--location" || a === "--location-trusted" || (/^-[a-zA-Z]*L/.test(a) && !/^-[a-zA-Z]*o/.test(a.slice(0, a.indexOf("L"))))) follows = true;
      if (a === "--no-location") follows = false;
      if (a === "--max-redirs") limitAllows = argv[i + 1] !== "0";
      if (a.startsWith("--max-redirs=")) limitAllows = a !== "--max-redirs=0";
    } else {
      if (a === "--max-redirect=0" || (a === "--max-redirect" && argv[i + 1] === "0")) limitAllows = false;
      if (/^--max-redirect(=| )?[1-9]/.test(a) || (a === "--max-redirect" && /^[1-9]/.test(argv[i + 1] ?? ""))) limitAllows = true;
      if (a === "-e" && /^max_?redirect\s*=\s*0$/i.test(argv[i + 1] ?? "")) limitAllows = false;
      if (a === "-e" && /^max_?redirect\s*=\s*[1-9]/i.test(argv[i + 1] ?? "")) limitAllows = true;
    }
  }
  return follows && limitAllows;
}

const vectors = [...curl, ...wget, ...redirects].map(([tool, argv, hit, note, mixed]) => ({
  tool,
  note,
  argv,
  hit: hit === "same" ? argv : hit,
  hit_redirected: followsByHand(tool, argv) && hit !== "same" ? hit : argv,
  miss: argv,
  unreachable: argv,
  ...(mixed ? { mixed: { outcomes: mixed.outcomes, expect: mixed.expect === "same" ? argv : mixed.expect } } : {}),
}));

const out = {
  format:
    "each vector: tool, argv (without argv[0]), and the final argv when every candidate URL's probe is hit / hit_redirected (a hit whose fill followed a redirect) / miss / unreachable; mixed: per-URL outcomes (URLs not listed count as miss)",
  server: SERVER,
  vectors,
};
writeFileSync(join(import.meta.dir, "shim-argv.json"), `${JSON.stringify(out, null, 1)}\n`);
console.log(`wrote ${vectors.length} vectors (${curl.length} curl, ${wget.length} wget, ${redirects.length} on redirected hits)`);
