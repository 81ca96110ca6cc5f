// The protoc-gen-validate rules that Envoy's .proto files declare (`(validate.rules)` on fields,
// `(validate.required)` on oneofs). Envoy runs these generated validators on every config it
// loads, so a message that breaks one is rejected there; here it is an error at the field.
//
// The common rule kinds are checked: required messages, durations and Anys; string and bytes
// lengths, prefixes, patterns and header-name syntax; numeric bounds; list and map sizes and
// their item rules. proto3 scalars have no presence, so an absent scalar is checked as its
// default value (an empty `name` breaks `min_len: 1`), except inside a oneof or with
// `ignore_empty`, as the generated validators do.

import protobuf from "protobufjs";
import { durationSeconds } from "./values.js";
import type { Issues } from "./issues.js";
import type { Path } from "./source.js";

type Rules = Record<string, unknown>;

// PGV's header-name and header-value expressions (strict, and the relaxed form for strict: false).
const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const LOOSE_HEADER = /^[^\u0000\u000A\u000D]*$/;

const NUMERIC = ["double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64"];

/**
 * Checks every field rule and required oneof of `type` on a decoded message. Fields in `failed`
 * were written but did not decode: they already have their error and are not checked again.
 */
export function checkMessageRules(type: protobuf.Type, msg: Record<string, unknown>, path: Path, keyOf: (f: protobuf.Field) => string, failed: ReadonlySet<string>, issues: Issues): void {
  for (const f of type.fieldsArray) {
    const rules = fieldRules(f);
    if (!rules || failed.has(f.name)) continue;
    const at = [...path, keyOf(f)];
    const value = msg[f.name];
    if (value === undefined) {
      if (f.partOf) continue; // a oneof member (or proto3 optional) is only checked when set
      if (isMessage(f)) {
        if (required(rules)) issues.error(at, "required");
        continue;
      }
      if (f.repeated || f instanceof protobuf.MapField) {
        checkCollection(rules, [], at, issues);
        continue;
      }
      if (ignoreEmpty(rules)) continue;
      checkValue(rules, ruleValue(f, defaultOf(f)), at, issues);
      continue;
    }
    if (f instanceof protobuf.MapField) checkMap(rules, value as Record<string, unknown>, at, issues);
    else if (f.repeated) checkCollection(rules, (value as unknown[]).map((v) => ruleValue(f, v)), at, issues);
    else checkValue(rules, ruleValue(f, value), at, issues);
  }
  for (const o of type.oneofsArray) {
    if (o.options?.["(validate.required)"] !== true) continue;
    if (!o.fieldsArray.some((f) => msg[f.name] !== undefined || failed.has(f.name))) issues.error(path, `one of ${o.fieldsArray.map((f) => f.name).join(", ")} is required`);
  }
}

/** The field's `(validate.rules)`, merged from protobufjs's parsed options. */
function fieldRules(f: protobuf.Field): Rules | undefined {
  let merged: Rules | undefined;
  for (const opt of (f.parsedOptions ?? []) as Rules[]) {
    const r = opt["(validate.rules)"];
    if (r && typeof r === "object") merged = deepMerge(merged ?? {}, r as Rules);
  }
  return merged;
}

function deepMerge(a: Rules, b: Rules): Rules {
  const out: Rules = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === "object" && !Array.isArray(v) && out[k] && typeof out[k] === "object" ? deepMerge(out[k] as Rules, v as Rules) : v;
  }
  return out;
}

function isMessage(f: protobuf.Field): boolean {
  return f.resolvedType instanceof protobuf.Type && !f.repeated && !(f instanceof protobuf.MapField);
}

function required(r: Rules): boolean {
  return ["message", "duration", "any", "timestamp"].some((k) => (r[k] as Rules | undefined)?.required === true);
}

function ignoreEmpty(r: Rules): boolean {
  return Object.values(r).some((v) => (v as Rules | undefined)?.ignore_empty === true);
}

/** Enum rules (in, not_in, const) are written in numbers; the decoded value is the name. */
function ruleValue(f: protobuf.Field, v: unknown): unknown {
  return f.resolvedType instanceof protobuf.Enum && typeof v === "string" ? f.resolvedType.values[v] : v;
}

function defaultOf(f: protobuf.Field): unknown {
  if (f.resolvedType instanceof protobuf.Enum) return f.resolvedType.valuesById[0];
  if (f.type === "string" || f.type === "bytes") return "";
  if (f.type === "bool") return false;
  return 0;
}

function checkCollection(r: Rules, items: unknown[], at: Path, issues: Issues): void {
  const rep = r.repeated as Rules | undefined;
  if (!rep) return;
  const min = num(rep.min_items);
  const max = num(rep.max_items);
  if (min !== undefined && items.length < min) issues.error(at, `needs at least ${min} item${min === 1 ? "" : "s"} (Envoy's validation rule)`);
  if (max !== undefined && items.length > max) issues.error(at, `takes at most ${max} item${max === 1 ? "" : "s"} (Envoy's validation rule)`);
  if (rep.unique === true && new Set(items.map((i) => JSON.stringify(i))).size !== items.length) issues.error(at, "items must be unique (Envoy's validation rule)");
  const each = rep.items as Rules | undefined;
  if (each) items.forEach((item, i) => item !== undefined && checkValue(each, item, [...at, i], issues));
}

function checkMap(r: Rules, map: Record<string, unknown>, at: Path, issues: Issues): void {
  const m = r.map as Rules | undefined;
  if (!m) return;
  const n = Object.keys(map).length;
  const min = num(m.min_pairs);
  const max = num(m.max_pairs);
  if (min !== undefined && n < min) issues.error(at, `needs at least ${min} entr${min === 1 ? "y" : "ies"} (Envoy's validation rule)`);
  if (max !== undefined && n > max) issues.error(at, `takes at most ${max} entr${max === 1 ? "y" : "ies"} (Envoy's validation rule)`);
  for (const [k, v] of Object.entries(map)) {
    if (m.keys) checkValue(m.keys as Rules, k, [...at, k], issues);
    if (m.values && v !== undefined) checkValue(m.values as Rules, v, [...at, k], issues);
  }
}

/** Rules of one kind (string, uint32, duration, ...) on one value. */
function checkValue(r: Rules, value: unknown, at: Path, issues: Issues): void {
  const fail = (rule: string, got: unknown) => issues.error(at, `breaks Envoy's validation rule ${rule} (got ${JSON.stringify(got)})`);
  if (r.string) checkString(r.string as Rules, String(value), fail);
  if (r.bytes) checkLength(r.bytes as Rules, "bytes", Buffer.from(String(value), "base64").length, value, fail);
  if (r.enum) {
    checkIn(r.enum as Rules, "enum", value, fail);
    if (num((r.enum as Rules).const) !== undefined && value !== num((r.enum as Rules).const)) fail(`enum.const = ${(r.enum as Rules).const}`, value);
  }
  if (r.bool && typeof (r.bool as Rules).const === "boolean" && value !== (r.bool as Rules).const) fail(`bool.const = ${(r.bool as Rules).const}`, value);
  if (r.duration && typeof value === "string") checkBounds(r.duration as Rules, "duration", durationSeconds(value) ?? 0, value, durationRuleSeconds, fail);
  if (r.any) {
    const url = (value as Record<string, unknown>)["@type"];
    checkIn(r.any as Rules, "any", url, fail);
  }
  for (const k of NUMERIC) if (r[k]) checkBounds(r[k] as Rules, k, Number(value), value, num, fail);
}

type Fail = (rule: string, got: unknown) => void;

function checkString(s: Rules, v: string, fail: Fail): void {
  const chars = [...v].length;
  checkLength(s, "string", chars, v, fail, Buffer.byteLength(v));
  if (typeof s.const === "string" && v !== s.const) fail(`string.const = ${JSON.stringify(s.const)}`, v);
  if (typeof s.prefix === "string" && !v.startsWith(s.prefix)) fail(`string.prefix = ${JSON.stringify(s.prefix)}`, v);
  if (typeof s.suffix === "string" && !v.endsWith(s.suffix)) fail(`string.suffix = ${JSON.stringify(s.suffix)}`, v);
  if (typeof s.contains === "string" && !v.includes(s.contains)) fail(`string.contains = ${JSON.stringify(s.contains)}`, v);
  if (typeof s.not_contains === "string" && v.includes(s.not_contains)) fail(`string.not_contains = ${JSON.stringify(s.not_contains)}`, v);
  checkIn(s, "string", v, fail);
  if (typeof s.pattern === "string") {
    const re = compile(s.pattern);
    if (re && !re.test(v)) fail(`string.pattern = ${JSON.stringify(s.pattern)}`, v);
  }
  const wk = s.well_known_regex;
  if (wk === "HTTP_HEADER_NAME" || wk === "HTTP_HEADER_VALUE") {
    const re = s.strict === false ? LOOSE_HEADER : wk === "HTTP_HEADER_NAME" ? HEADER_NAME : HEADER_VALUE;
    // An empty value is left to min_len, as in the generated validators.
    if (v !== "" && !re.test(v)) fail(`string.well_known_regex = ${wk}`, v);
  }
}

function checkLength(s: Rules, kind: string, length: number, v: unknown, fail: Fail, bytes = length): void {
  const bound = (rule: string, ok: (n: number) => boolean) => {
    const n = num(s[rule]);
    if (n !== undefined && !ok(n)) fail(`${kind}.${rule} = ${n}`, v);
  };
  bound("len", (n) => length === n);
  bound("min_len", (n) => length >= n);
  bound("max_len", (n) => length <= n);
  bound("min_bytes", (n) => bytes >= n);
  bound("max_bytes", (n) => bytes <= n);
}

function checkIn(s: Rules, kind: string, v: unknown, fail: Fail): void {
  const allowed = list(s.in);
  const denied = list(s.not_in);
  if (allowed.length && !allowed.includes(v)) fail(`${kind}.in = ${JSON.stringify(allowed)}`, v);
  if (denied.includes(v)) fail(`${kind}.not_in = ${JSON.stringify(denied)}`, v);
}

/** A repeated rule value: protobufjs gives a single `not_in: 0` as a scalar, and 64-bit numbers as Longs. */
function list(x: unknown): unknown[] {
  return (Array.isArray(x) ? x : x === undefined ? [] : [x]).map((v) => (typeof v === "object" && v !== null ? num(v) : v));
}

/** lt/lte/gt/gte/const; a lower bound above the upper one means "outside the range", as in PGV. */
function checkBounds(s: Rules, kind: string, n: number, v: unknown, read: (x: unknown) => number | undefined, fail: Fail): void {
  const c = read(s.const);
  if (c !== undefined && n !== c) fail(`${kind}.const = ${c}`, v);
  const lt = read(s.lt);
  const lte = read(s.lte);
  const gt = read(s.gt);
  const gte = read(s.gte);
  const upper = lt ?? lte;
  const lower = gt ?? gte;
  const belowUpper = upper === undefined || (lt !== undefined ? n < lt : n <= (lte as number));
  const aboveLower = lower === undefined || (gt !== undefined ? n > gt : n >= (gte as number));
  const exclusive = upper !== undefined && lower !== undefined && lower > upper;
  if (exclusive ? !(belowUpper || aboveLower) : !(belowUpper && aboveLower)) {
    const parts = [["gt", gt], ["gte", gte], ["lt", lt], ["lte", lte]].filter(([, x]) => x !== undefined).map(([k, x]) => `${kind}.${k} = ${x}`);
    fail(parts.join(", "), v);
  }
}

function durationRuleSeconds(x: unknown): number | undefined {
  if (!x || typeof x !== "object") return undefined;
  const d = x as Record<string, unknown>;
  return (num(d.seconds) ?? 0) + (num(d.nanos) ?? 0) / 1e9;
}

function num(x: unknown): number | undefined {
  if (typeof x === "number") return x;
  if (typeof x === "string" && x.trim() !== "" && !Number.isNaN(Number(x))) return Number(x);
  if (x && typeof x === "object" && "low" in x) return Number((x as { toString(): string }).toString()); // protobufjs Long
  return undefined;
}

/** PGV patterns are RE2; the common subset compiles as JavaScript. Others are skipped, not guessed. */
function compile(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern, "u");
  } catch {
    return undefined;
  }
}
