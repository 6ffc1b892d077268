// HTTP dates (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms a
// recipient must accept. Anything else is not a date: `Expires: 0`, garbage and JS-only formats
// (Date.parse("0") is a date in the year 2000) come back null, so callers decide what "invalid"
// means instead of inheriting a lenient parser's guess.

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY = "(?:mon|tue|wed|thu|fri|sat|sun)";
const LONG_DAY = "(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)";
const MONTH = "(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)";
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
const IMF = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} gmt$`);
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} gmt$`);
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);
/** Longer values are not dates (and are not worth running a regex over). */
const HTTP_DATE_CHARS_MAX = 64;

function utc(year: number, month: string, day: number, h: number, m: number, s: number): number | null {
  const monthIndex = MONTHS.indexOf(month);
  if (monthIndex < 0 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return null;
  // Date.UTC maps years 0–99 to 19xx: set the full year explicitly (Go's zero time is year 1).
  const date = new Date(Date.UTC(2000, monthIndex, day, h, m, Math.min(s, 59)));
  date.setUTCFullYear(year, monthIndex, day);
  // A day past the month's end rolls into the next month: such a date is not one.
  return date.getUTCDate() === day && date.getUTCMonth() === monthIndex ? date.getTime() : null;
}

/** Milliseconds since the epoch, or null when `value` is not an HTTP date. */
export function parseHttpDate(value: string | null | undefined): number | null {
  if (value === null || value === undefined || value.length > HTTP_DATE_CHARS_MAX) return null;
  const v = value.trim().toLowerCase();
  let m = IMF.exec(v);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = RFC850.exec(v);
  if (m) {
    // Two-digit years (RFC 850, obsolete): 70–99 are 19xx, 00–69 are 20xx. RFC 9110 ties the
    // window to the current year; a fixed one keeps this pure and is right until 2069.
    const yy = Number(m[3]);
    const year = yy >= 70 ? 1900 + yy : 2000 + yy;
    return utc(year, m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME.exec(v);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  return null;
}

/** IMF-fixdate, the form we send (If-Modified-Since, Last-Modified). */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
