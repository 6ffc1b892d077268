// Terminal output for the API commands: tables that fit a width (the widest column shrinks, a
// URL keeps its host and file name around a middle ellipsis) and progress bars. Pure.

export type Column<R> = {
  header: string;
  value(row: R): string;
  align?: "left" | "right";
  /** This column gives up width when the table is too wide (URLs). */
  shrink?: boolean;
  /** Left out when the table still does not fit; the lowest number goes first. */
  drop?: number;
};

/** `text` in at most `max` characters: its start and its end around "…" (the end weighs more: a file name). */
export function middleEllipsis(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  if (max <= 1) return "…".slice(0, max);
  const keep = max - 1;
  // The whole last path segment when it leaves room for the start (the host), else 60 %.
  const slash = text.lastIndexOf("/");
  const segment = slash < 0 ? 0 : text.length - slash;
  const tail = Math.max(Math.ceil(keep * 0.6), Math.min(segment, keep - 8));
  return chars.slice(0, keep - tail).join("") + "…" + chars.slice(chars.length - tail).join("");
}

const GAP = "  ";
const SHRINK_MIN = 12;

function minimumWidth<R>(columns: readonly Column<R>[], rows: readonly R[]): number {
  const natural = (c: Column<R>) => Math.max([...c.header].length, ...rows.map((r) => [...c.value(r)].length));
  return columns.reduce((sum, c) => sum + (c.shrink ? Math.min(SHRINK_MIN, natural(c)) : natural(c)), 0) + GAP.length * (columns.length - 1);
}

/** Rows under a header, padded; shrinkable columns cut (middle ellipsis) and, if that is not
 *  enough, droppable columns left out, so lines fit `width` (null: no limit). */
export function formatTable<R>(all: readonly Column<R>[], rows: readonly R[], width: number | null): string {
  let columns = all;
  if (width !== null) {
    const droppable = all.filter((c) => c.drop !== undefined).sort((a, b) => a.drop! - b.drop!);
    while (minimumWidth(columns, rows) > width && droppable.length > 0) {
      const gone = droppable.shift()!;
      columns = columns.filter((c) => c !== gone);
    }
  }
  const cells = rows.map((r) => columns.map((c) => c.value(r).replace(/\s+/g, " ")));
  const widths = columns.map((c, i) => Math.max([...c.header].length, ...cells.map((row) => [...row[i]!].length)));
  if (width !== null) {
    let over = widths.reduce((a, b) => a + b, 0) + GAP.length * (columns.length - 1) - width;
    // Take from the widest shrinkable column first, down to SHRINK_MIN each.
    while (over > 0) {
      let widest = -1;
      for (let i = 0; i < columns.length; i += 1) if (columns[i]!.shrink && widths[i]! > SHRINK_MIN && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
      if (widest < 0) break;
      const take = Math.min(over, widths[widest]! - SHRINK_MIN);
      widths[widest] = widths[widest]! - take;
      over -= take;
    }
  }
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const cut = middleEllipsis(v, widths[i]!);
        const pad = " ".repeat(Math.max(0, widths[i]! - [...cut].length));
        return columns[i]!.align === "right" ? pad + cut : i === values.length - 1 ? cut : cut + pad;
      })
      .join(GAP)
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n") + "\n";
}

/** `[#####·····]  45%` in `width` characters; an unknown total draws no bar. */
export function progressBar(done: number, total: number | null, width: number): string {
  const inner = Math.max(4, width - 7);
  if (total === null || total <= 0) return `[${"?".repeat(inner)}]     `.slice(0, inner + 7);
  const fraction = Math.min(1, Math.max(0, done / total));
  const filled = Math.round(fraction * inner);
  return `[${"#".repeat(filled)}${".".repeat(inner - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
}

/** The width tables should fit: COLUMNS when set, else the terminal's, else none (a pipe gets whole lines). */
export function outputWidth(env: Record<string, string | undefined>, stream: { isTTY?: boolean; columns?: number }): number | null {
  const fromEnv = Number(env["COLUMNS"]);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  if (stream.isTTY && stream.columns) return stream.columns;
  return null;
}
