// How a long URL is shown in one line: split into a head (scheme, host, directories) that CSS
// cuts with an ellipsis at its end, and a tail (the file name) that always shows, so the line
// reads "https://very-long-host.exa…/tool-1.2.3.tar.gz". Both parts together are the whole URL,
// so the full text stays in the DOM (selectable, copyable, found by the browser's find). Pure.

/** The tail keeps at most this many characters: file names like
 *  `rustc-1.83.0-x86_64-unknown-linux-gnu.tar.xz` (44) fit whole; longer ones keep their end
 *  (the extension). On a phone the CSS cuts a tail wider than the card as well. */
export const URL_TAIL_CHARS_MAX = 48;

export interface UrlParts {
  head: string;
  tail: string;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

export function splitUrlForDisplay(url: string, options: { tailCharsMax?: number } = {}): UrlParts {
  const tailMax = Math.max(1, options.tailCharsMax ?? URL_TAIL_CHARS_MAX);
  // The path starts at the first "/" after "scheme://host"; a URL without a path has no file name.
  const afterScheme = url.indexOf("://");
  const pathStart = url.indexOf("/", afterScheme === -1 ? 0 : afterScheme + 3);
  if (pathStart === -1) return { head: url, tail: "" };
  // The file name: from the last "/" of the path (before any query or fragment).
  const queryAt = url.slice(pathStart).search(/[?#]/);
  const pathEnd = queryAt === -1 ? url.length : pathStart + queryAt;
  let cut = url.lastIndexOf("/", pathEnd - 1);
  if (cut <= pathStart && pathEnd - pathStart <= 1) return { head: url, tail: "" };
  if (url.length - cut > tailMax) cut = url.length - tailMax;
  // Never split a surrogate pair (an emoji or a rare CJK character in a path).
  if (cut > 0 && cut < url.length && isLowSurrogate(url.charCodeAt(cut))) cut--;
  if (cut <= 0) return { head: url, tail: "" };
  return { head: url.slice(0, cut), tail: url.slice(cut) };
}

/** An extension is at most this many dotted parts (`.tar.gz`, `.min.js`)… */
export const EXTENSION_PARTS_MAX = 2;
/** …each a letter then up to 7 letters or digits (`deb`, `bz2`, `AppImage`), or `7z`. A part
 *  that starts with a digit is a version (`-12.6.2`, `1.2.3rc1`), not an extension. */
const EXTENSION_PART = /^(?:[a-z][a-z0-9]{0,7}|7z)$/i;
/** A query or fragment this short (the log's and Misses' "?…") stays beside the extension;
 *  a longer one goes with the stem and is cut at its end. */
export const KEPT_QUERY_CHARS_MAX = 4;

export interface TailParts {
  /** The file name's start: CSS cuts it with an ellipsis at its end. */
  stem: string;
  /** The extension (and a short query after it): never cut. Empty when there is none. */
  ext: string;
}

/** Splits a URL's tail (see splitUrlForDisplay), e.g. "/tool-1.2.3.tar.gz?…", into the part that
 *  may be cut and the extension that always shows: { stem: "/tool-1.2.3", ext: ".tar.gz?…" }.
 *  stem + ext is the tail. Pure. */
export function splitExtensionForDisplay(tail: string): TailParts {
  const queryAt = tail.search(/[?#]/);
  const nameEnd = queryAt === -1 ? tail.length : queryAt;
  if (tail.length - nameEnd > KEPT_QUERY_CHARS_MAX) return { stem: tail, ext: "" };
  const name = tail.slice(0, nameEnd);
  let cut = name.length;
  for (let parts = 0; parts < EXTENSION_PARTS_MAX; parts++) {
    const dot = name.lastIndexOf(".", cut - 1);
    if (dot === -1 || !EXTENSION_PART.test(name.slice(dot + 1, cut))) break;
    cut = dot;
  }
  // Something must be left before the extension that is not a path separator ("/.bashrc" has none).
  const stem = name.slice(0, cut);
  if (cut === name.length || stem.replace(/^\//, "") === "") return { stem: tail, ext: "" };
  return { stem, ext: tail.slice(cut) };
}
