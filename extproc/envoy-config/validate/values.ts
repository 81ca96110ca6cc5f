// Small readers shared by the decoder, the rules and the cross-checks.

/** Seconds in a protobuf JSON duration ("1s", "0.2s", "-3.000000001s"), or undefined if malformed. */
export function durationSeconds(text: string): number | undefined {
  return /^-?\d+(\.\d{1,9})?s$/.test(text) ? Number(text.slice(0, -1)) : undefined;
}

/** protoc's JSON name: underscores dropped, the letter after each one upper-cased. */
export function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export { isObject } from "../../module/policy-names.js";

/** What a JSON value is, for messages: "a string", "a list", ... */
export function kind(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number") return "a number";
  return "a string";
}

/** Close enough to be a typo of `name`: at most two edits apart ("did you mean ...?"). */
export function isNear(name: string, typed: string): boolean {
  return editDistance(name, typed) <= 2;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}
