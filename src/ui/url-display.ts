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
