// Plain-text result tables for the benchmark reports: columns padded to their widest cell,
// separated by two spaces, with a dashed rule under the header.

/** Header, rule and rows as lines (trailing blanks trimmed); leftAligned(i) says how column i is padded. */
export function tableLines(head: string[], rows: string[][], leftAligned: (col: number) => boolean): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (leftAligned(i) ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)];
}

/** The table as one string (no final newline); the first `leftCols` columns are left-aligned. */
export function table(head: string[], rows: string[][], leftCols = 1): string {
  return tableLines(head, rows, (i) => i < leftCols).join('\n');
}
