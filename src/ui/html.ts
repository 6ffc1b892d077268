// The one way HTML is built: a tagged template that escapes every interpolated value unless it
// is already an Html (the output of another html`` call, or raw() for trusted constant markup).
// Attribute values must be quoted in templates; escaping covers both quote kinds.

const HTML_BRAND = Symbol("html");

export interface Html {
  readonly [HTML_BRAND]: true;
  readonly text: string;
}

function makeHtml(text: string): Html {
  return { [HTML_BRAND]: true, text };
}

export function isHtml(value: unknown): value is Html {
  return typeof value === "object" && value !== null && HTML_BRAND in value;
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (ch) => ESCAPES[ch] ?? ch);
}

/** Trusted markup, inserted as is. Only for constants written in our own source. */
export function raw(text: string): Html {
  return makeHtml(text);
}

/** Interpolation rules: Html as is; arrays item by item; null, undefined and false as nothing;
 *  everything else as escaped text. */
function render(value: unknown): string {
  if (value === null || value === undefined || value === false) return "";
  if (isHtml(value)) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? "");
  return makeHtml(out);
}
