// The scenario reader's checks of one value: each problem collected with its file, line and path,
// so a scenario file reports every mistake at once.

import { LoadedDocument, PathSegment } from "../module/policy-file.js";
import { isObject } from "../module/policy-names.js";

export type Obj = Record<string, unknown>;
export const isObj = isObject;
/** A value inherited or set on a case, with the path it was written at. */
export type Picked = { value: unknown; path: PathSegment[] };
export const show = (path: readonly PathSegment[]) =>
  path.map((s, i) => (typeof s === "number" ? `[${s}]` : i ? `.${s}` : s)).join("") || "document";

/** Collects every problem in the scenario file, each with its line and path. */
export class Checker {
  readonly errors: string[] = [];
  constructor(readonly doc: LoadedDocument) {}

  fail(path: readonly PathSegment[], message: string): void {
    this.errors.push(`${this.doc.where(path)}: ${show(path)}: ${message}`);
  }

  fields(v: unknown, path: PathSegment[], allowed: readonly string[]): v is Obj {
    if (!isObj(v)) {
      this.fail(path, "expected a mapping");
      return false;
    }
    for (const k of Object.keys(v)) if (!allowed.includes(k)) this.fail([...path, k], `unknown field (expected one of: ${allowed.join(", ")})`);
    return true;
  }

  string(v: unknown, path: PathSegment[]): string | undefined {
    if (typeof v === "string" && v !== "") return v;
    this.fail(path, "expected a non-empty string");
    return undefined;
  }

  duration(v: unknown, path: PathSegment[]): number | undefined {
    const ms = parseDuration(v);
    if (ms === undefined) this.fail(path, 'expected a duration such as "500ms", "90s" or "2m"');
    return ms;
  }
}

/**
 * A duration in the module's own grammar (assembly/policy/duration.ts and PolicyReader.duration), so
 * a scenario and a policy accept the same text: a number of milliseconds >= 0, or digits with an
 * optional fraction ("1.5s", ".5s", "1.s") and one of ms, s, m, h, nothing around them. Undefined otherwise.
 */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^(\d+\.?\d*|\.\d+)(ms|s|m|h)$/.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
}

/** A share such as 0.25, "4/14" or "25%"; undefined when not in 0..1. */
export function parseRate(v: unknown): number | undefined {
  let r: number | undefined;
  if (typeof v === "number") r = v;
  else if (typeof v === "string") {
    const frac = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)\s*$/.exec(v);
    const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
    if (frac && Number(frac[2]) > 0) r = Number(frac[1]) / Number(frac[2]);
    else if (pct) r = Number(pct[1]) / 100;
  }
  return r !== undefined && r >= 0 && r <= 1 ? r : undefined;
}
