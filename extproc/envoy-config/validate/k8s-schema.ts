// What may be written in a Kubernetes resource, and the check of a resource against it.
//
// A FieldSchema is the part of a CRD's structural OpenAPI v3 schema that says what a resource may
// contain (fields, types, enums, required members, value limits), without descriptions,
// defaults or CEL rules. The project ships one per kind and version (k8s-schemas/*.json, made by
// scripts/k8s-schemas.mjs); `--crds DIR` builds them from the user's own CRD files the same way.
// Checking follows the API server: an object schema with `properties` and without
// x-kubernetes-preserve-unknown-fields is closed (an unknown field is an error, as with kubectl's
// strict field validation; a client that does not ask for it has the field dropped silently), and
// a member set to null counts as unset. ajv does the checking;
// its errors become issues at the member's path, an unknown field with the nearest known names.

import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { RE2JS } from "re2js";
import type { Issues } from "./issues.js";
import { obj } from "./resource.js";
import type { Segment } from "./source.js";
import { isNear, isObject, kind } from "./values.js";

export interface FieldSchema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  properties?: Record<string, FieldSchema>;
  additionalProperties?: FieldSchema | boolean;
  items?: FieldSchema;
  required?: string[];
  enum?: unknown[];
  nullable?: boolean;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  anyOf?: FieldSchema[];
  oneOf?: FieldSchema[];
  allOf?: FieldSchema[];
  not?: FieldSchema;
  /** A reference to a shared definition (`#/$defs/Name`), for the recursive core models. */
  $ref?: string;
  $defs?: Record<string, FieldSchema>;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
}

const COPIED = [
  "type", "required", "enum", "nullable", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
  "minItems", "maxItems", "minProperties", "maxProperties", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
] as const;
const NESTED_LISTS = ["anyOf", "oneOf", "allOf"] as const;

/**
 * A CRD's openAPIV3Schema reduced to a FieldSchema. Dropped: descriptions, defaults, formats, list
 * and map types, and x-kubernetes-validations (CEL rules, which need Kubernetes' CEL library);
 * also a pattern that RE2 cannot compile (the API server would refuse such a CRD).
 */
export function fieldSchema(s: unknown): FieldSchema {
  if (!isObject(s)) return {};
  const out: Record<string, unknown> = {};
  for (const k of COPIED) if (s[k] !== undefined && s[k] !== false) out[k] = s[k];
  if (typeof s.pattern === "string" && compiles(s.pattern)) out.pattern = s.pattern;
  if (isObject(s.properties)) out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, fieldSchema(v)]));
  if (isObject(s.items)) out.items = fieldSchema(s.items);
  if (isObject(s.additionalProperties)) out.additionalProperties = fieldSchema(s.additionalProperties);
  else if (typeof s.additionalProperties === "boolean") out.additionalProperties = s.additionalProperties;
  for (const k of NESTED_LISTS) if (Array.isArray(s[k])) out[k] = (s[k] as unknown[]).map(fieldSchema);
  if (isObject(s.not)) out.not = fieldSchema(s.not);
  return out as FieldSchema;
}

function compiles(pattern: string): boolean {
  try {
    RE2JS.compile(pattern);
    return true;
  } catch {
    return false;
  }
}

/**
 * Patterns run in RE2, as the API server runs them (Go's regexp): linear time, where JavaScript's
 * backtracking RegExp takes hours on a 40-character header value against Gateway API's
 * `^[!-~]+([\t ]?[!-~]+)*$`; and RE2's syntax (`(?i)`) as the CRD's authors wrote it.
 */
const re2: ((pattern: string) => { test: (s: string) => boolean }) & { code: string } = Object.assign((pattern: string) => RE2JS.compile(pattern), { code: "re2js" });

/** A closed object: it lists its fields and keeps no others. */
export function isClosed(s: FieldSchema): boolean {
  return s.properties !== undefined && s.additionalProperties === undefined && !s["x-kubernetes-preserve-unknown-fields"];
}

/** The FieldSchema as ajv reads it: closed objects get additionalProperties false; Kubernetes' own keywords go. */
function ajvSchema(s: FieldSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith("x-kubernetes-")) continue;
    if (k === "properties" || k === "$defs") out[k] = Object.fromEntries(Object.entries(v as Record<string, FieldSchema>).map(([n, x]) => [n, ajvSchema(x)]));
    else if (k === "items" || k === "not" || (k === "additionalProperties" && isObject(v))) out[k] = ajvSchema(v as FieldSchema);
    else if ((NESTED_LISTS as readonly string[]).includes(k)) out[k] = (v as FieldSchema[]).map(ajvSchema);
    else out[k] = v;
  }
  if (isClosed(s)) out.additionalProperties = false;
  // An embedded resource (a whole object inside another) always has its own type and metadata.
  if (s["x-kubernetes-embedded-resource"] && isClosed(s)) {
    out.properties = { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" }, ...(out.properties as object) };
  }
  if (s["x-kubernetes-int-or-string"] && !s.anyOf) out.anyOf = [{ type: "integer" }, { type: "string" }];
  if (s.nullable && !s.type) delete out.nullable;
  return out;
}

/** Checks resources against one FieldSchema; compiled once, on first use. */
export class SchemaChecker {
  private compiled?: ValidateFunction;

  constructor(readonly schema: FieldSchema) {}

  /** Compiles the schema now; throws with ajv's reasons when it is not a usable schema (a broken CRD). */
  compile(): ValidateFunction {
    return (this.compiled ??= new Ajv({ allErrors: true, verbose: true, strict: false, validateFormats: false, code: { regExp: re2 } }).compile(ajvSchema(this.schema)));
  }

  /** Adds an issue for every place `value` breaks the schema; paths start at the resource's top. */
  check(value: unknown, issues: Issues): void {
    let validate: ValidateFunction;
    try {
      validate = this.compile();
    } catch (e) {
      issues.error([], `the kind's schema cannot be used: ${(e as Error).message}`);
      return;
    }
    const data = withoutNulls(value);
    if (validate(data)) return;
    // One finding per member: a value of the wrong type is not also reported outside the enum.
    const reported = new Set<string>();
    const report = (path: Segment[], message: string) => {
      const key = JSON.stringify(path);
      if (!reported.has(key)) issues.error(path, message);
      reported.add(key);
    };
    for (const e of meaningful(validate.errors ?? [])) {
      const path = pointerPath(e.instancePath);
      if (e.keyword === "additionalProperties") {
        const field = String(e.params.additionalProperty);
        report([...path, field], unknownField(field, Object.keys(obj(obj(e.parentSchema).properties))));
      } else if (e.keyword === "required") report([...path, String(e.params.missingProperty)], "required");
      else report(path, describe(e));
    }
  }
}

/** Errors inside a oneOf / anyOf / not are the branches' reasons: the combinator's own error says it. */
function meaningful(errors: ErrorObject[]): ErrorObject[] {
  const combinators = errors.filter((e) => e.keyword === "oneOf" || e.keyword === "anyOf" || e.keyword === "not").map((e) => e.schemaPath);
  const inside = (e: ErrorObject) => combinators.some((c) => e.schemaPath !== c && e.schemaPath.startsWith(`${c}/`));
  // An int-or-string's type error comes with an anyOf of integer / string: say it once.
  return errors.filter((e) => !inside(e) && e.keyword !== "if");
}

function describe(e: ErrorObject): string {
  const v = e.data;
  const shown = shorten(JSON.stringify(v) ?? String(v));
  switch (e.keyword) {
    case "type": {
      const want = String(e.params.type);
      const quote = want === "string" && (typeof v === "number" || typeof v === "boolean") ? " (quote it)" : "";
      return `expected ${article(want)}, got ${kind(v)}${quote}`;
    }
    case "enum":
      return `${shown} is not one of: ${(e.params.allowedValues as unknown[]).map(String).join(", ")}`;
    case "pattern":
      return `${shown} does not match ${String(e.params.pattern)}`;
    case "anyOf":
    case "oneOf":
      return combinator(e);
    case "not":
      return `${shown} is not allowed here`;
    default:
      return `${shown}: ${e.message ?? e.keyword}`;
  }
}

/** oneOf / anyOf: integer-or-string, or (Istio's oneof fields) "at most one of" a set of members. */
function combinator(e: ErrorObject): string {
  const branches = (e.schema as Record<string, unknown>[]) ?? [];
  const types = branches.map((b) => b.type).filter((t): t is string => typeof t === "string");
  if (types.length === branches.length && types.length) return `expected ${types.map(article).join(" or ")}, got ${kind(e.data)}`;
  const members = [...new Set(branches.flatMap(requiredNames))];
  if (members.length) {
    const set = members.filter((m) => isObject(e.data) && m in e.data);
    return `${e.keyword === "oneOf" ? "set at most one" : "set one"} of: ${members.join(", ")}${set.length ? ` (this sets ${set.join(", ")})` : ""}`;
  }
  return `${shorten(JSON.stringify(e.data))} matches ${e.keyword === "oneOf" ? "not exactly one" : "none"} of the forms allowed here`;
}

/** A value as a report line shows it: at most 80 characters. */
function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function requiredNames(b: Record<string, unknown>): string[] {
  const own = Array.isArray(b.required) ? b.required.map(String) : [];
  const inner = isObject(b.not) && Array.isArray(b.not.anyOf) ? b.not.anyOf.flatMap((x) => requiredNames(obj(x))) : [];
  return [...own, ...inner];
}

function article(type: string): string {
  return { object: "an object", array: "a list", integer: "an integer", string: "a string", number: "a number", boolean: "a boolean", null: "null" }[type] ?? type;
}

/** `unknown field "x" (did you mean y?)`, or the fields there are when none is near. */
export function unknownField(field: string, known: string[]): string {
  const near = known.filter((k) => isNear(k, field) || k.toLowerCase() === field.toLowerCase());
  if (near.length) return `unknown field "${field}" (did you mean ${near.join(" or ")}?)`;
  const listed = known.length > 12 ? `${known.slice(0, 12).join(", ")}, ...` : known.join(", ");
  return `unknown field "${field}"${known.length ? ` (known here: ${listed})` : ""}`;
}

/** Kubernetes treats a member set to null as unset (the API server prunes it before validating). */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, withoutNulls(x)]));
}

function pointerPath(pointer: string): Segment[] {
  if (!pointer) return [];
  return pointer.slice(1).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~")).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}
