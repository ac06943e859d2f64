/** Plain-text tables for terminal reports: numbers right-aligned, text left-aligned. */

export type Cell = string | number;

/** A cell that reads as a number (`12.5`, `71%`, `5.2×`) or is empty (`–`) is right-aligned. */
const NUMERIC = /^(–|[-+]?\d[\d.,]*[%×]?)$/;

export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => text.every((r) => NUMERIC.test(r[i] ?? '')));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...text.map(line)].join('\n');
}

/** Fixed decimals that stay readable across magnitudes (1234, 12.3, 1.23, 0.123). */
export function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 1000) return v.toFixed(0);
  if (abs >= 100) return v.toFixed(Math.max(0, digits - 3));
  if (abs >= 10) return v.toFixed(Math.max(0, digits - 2));
  return v.toFixed(Math.max(0, digits - 1));
}
