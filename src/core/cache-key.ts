// Cache keys: which origin URLs name the same artifact.
// scheme://host[:port]/path, scheme and host lower-cased, default port dropped, fragment dropped,
// query dropped unless keepQuery (signed URLs differ only in ?token=… and must share one entry).

export type OriginUrlResult =
  | { ok: true; url: URL }
  | { ok: false; status: 400 | 414; message: string };

/** URLs longer than this are refused with 414: no vendor artifact URL comes near it. */
export const URL_BYTES_MAX = 8192;

export function parseOriginUrl(raw: string): OriginUrlResult {
  if (Buffer.byteLength(raw, "utf8") > URL_BYTES_MAX) {
    return { ok: false, status: 414, message: `url is longer than ${URL_BYTES_MAX} bytes` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, status: 400, message: `url ${JSON.stringify(raw.slice(0, 200))} is not an absolute url` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, status: 400, message: `url scheme "${url.protocol.replace(/:$/, "")}" is not allowed; expected http or https` };
  }
  if (url.hostname === "") return { ok: false, status: 400, message: "url has no host" };
  // Credentials in the URL would be stored in rows, shown in the UI and sent on every fill. The
  // shims never send such a URL here (they pass it through to the origin); refuse it outright.
  if (url.username !== "" || url.password !== "") {
    return { ok: false, status: 400, message: "url carries credentials (user:password@); they are never stored, so such a url is not cached" };
  }
  return { ok: true, url };
}

export function cacheKey(url: URL, options: { keepQuery: boolean }): string {
  // WHATWG URL already lower-cases scheme and host and drops default ports.
  const port = url.port === "" ? "" : `:${url.port}`;
  const path = url.pathname === "" ? "/" : url.pathname;
  const query = options.keepQuery ? url.search : "";
  return `${url.protocol}//${url.hostname}${port}${path}${query}`;
}
