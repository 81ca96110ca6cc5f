// Kubernetes resources as the checks see them, and the small readers they share. A resource's
// issues are its own (paths start at the resource's top level), so a report can say which
// document of a multi-document file each problem is in.

import { Issues } from "./issues.js";
import type { Path, SourceDocument } from "./source.js";
import { isObject, kind } from "./values.js";

export type Obj = Record<string, unknown>;

export class Resource {
  readonly issues = new Issues();
  readonly value: Obj;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;

  /** `at`: the path of the resource in its document (`items[i]` of a List; the top otherwise). */
  constructor(
    readonly doc: SourceDocument,
    readonly at: Path = [],
  ) {
    this.value = obj(at.reduce<unknown>((v, seg) => (v as Record<string | number, unknown>)?.[seg], doc.value));
    this.kind = str(this.value.kind);
    this.name = str(obj(this.value.metadata).name);
    this.namespace = str(obj(this.value.metadata).namespace);
  }

  get spec(): Obj {
    return obj(this.value.spec);
  }

  /** `Kind namespace/name`, for report lines. */
  get label(): string {
    return `${this.kind || "(no kind)"} ${this.namespace ? `${this.namespace}/` : ""}${this.name || "(no name)"}`;
  }
}

/** A failover policy carried by a resource (plugin config, ConfigMap file), for the module to judge. */
export interface ResourcePolicy {
  readonly resource: Resource;
  readonly path: Path;
  readonly doc: unknown;
  readonly text: string;
  /** Written as YAML inside the resource (not as text in a string), so the module's paths extend `path`. */
  readonly structured: boolean;
}

export function obj(v: unknown): Obj {
  return isObject(v) ? v : {};
}

/** The objects of a list, index for index (anything else reads as {}). */
export function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? v.map(obj) : [];
}

export function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** A required non-empty string; reports and returns undefined when missing or not a string. */
export function needString(issues: Issues, path: Path, v: unknown): string | undefined {
  if (typeof v === "string" && v !== "") return v;
  issues.error(path, v === undefined || v === "" ? "required" : `expected a string, got ${kind(v)}`);
  return undefined;
}

/** A required list with at least `min` items. */
export function needList(issues: Issues, path: Path, v: unknown, min = 1): Obj[] {
  if (v !== undefined && !Array.isArray(v)) issues.error(path, `expected a list, got ${kind(v)}`);
  else if (!Array.isArray(v) || v.length < min) issues.error(path, `needs at least ${min} item${min === 1 ? "" : "s"}`);
  return arr(v);
}

/** An optional enum-like string field. */
export function oneOf(issues: Issues, path: Path, v: unknown, allowed: readonly string[]): void {
  if (v !== undefined && !allowed.includes(v as string)) issues.error(path, `${JSON.stringify(v)} is not one of: ${allowed.join(", ")}`);
}

/** Labels, annotations, selectors: every value a string (an unquoted 200002 or on is not). */
export function stringMap(issues: Issues, path: Path, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (!isObject(v)) {
    issues.error(path, `expected a map of strings, got ${kind(v)}`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "string") out[k] = x;
    else issues.error([...path, k], `expected a string, got ${kind(x)}${typeof x === "number" || typeof x === "boolean" ? " (quote it)" : ""}`);
  }
  return out;
}

/** A Go duration as Istio and Kubernetes take it: "10s", "1m", "250ms", "1h30m". */
export function goDuration(issues: Issues, path: Path, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== "string" || !/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) issues.error(path, `expected a duration such as "10s" or "1m", got ${JSON.stringify(v)}`);
}
