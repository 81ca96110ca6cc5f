// Plain-text tables for the command line: columns padded to their widest cell, numbers (and
// anything that ends like one: "50.00%", "12ms") aligned right.

const numeric = /^[-+]?\d[\d.,]*\s*(%|ms|s)?$/;

export function table(header: string[], rows: string[][], indent = "  "): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const right = header.map((_, i) => rows.length > 0 && rows.every((r) => numeric.test(r[i] ?? "") || (r[i] ?? "") === "-"));
  const line = (r: string[]) =>
    indent + r.map((cell, i) => (right[i] ? (cell ?? "").padStart(widths[i]) : (cell ?? "").padEnd(widths[i]))).join("  ").trimEnd();
  return all.map(line).join("\n") + "\n";
}

/** A percentage with two decimals, as the module publishes shares. */
export const pct = (n: number) => `${n.toFixed(2)}%`;
