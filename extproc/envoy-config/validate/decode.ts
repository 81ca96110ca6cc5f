// A strict decoder for protobuf's JSON mapping, as Envoy applies it to a static bootstrap: an
// unknown field, a value of the wrong type, a number out of range, an enum name the enum does not
// have, two members of one oneof, or an Any whose "@type" names no loaded type is an error at the
// path of the member at fault. Field names are accepted as written in the .proto (snake_case) or
// as their JSON names (lowerCamelCase), as Envoy does. Every message is then checked against the
// protoc-gen-validate rules its .proto declares (see rules.ts).
//
// The result is the same value in a canonical form (snake_case names, enum names, wrappers
// unwrapped, Any bodies inline next to "@type") for the cross-checks to read.

import protobuf from "protobufjs";
import type { Issues } from "./issues.js";
import { checkMessageRules } from "./rules.js";
import type { Path } from "./source.js";
import { durationSeconds, isNear, isObject, jsonName, kind } from "./values.js";
import { CURRENT_ENVOY, type NewerField, atLeast, newerField } from "../versions.js";

type Canonical = Record<string, unknown>;

export const TYPE_URL_PREFIX = "type.googleapis.com/";

const WRAPPERS: Record<string, string> = {
  ".google.protobuf.DoubleValue": "double",
  ".google.protobuf.FloatValue": "float",
  ".google.protobuf.Int64Value": "int64",
  ".google.protobuf.UInt64Value": "uint64",
  ".google.protobuf.Int32Value": "int32",
  ".google.protobuf.UInt32Value": "uint32",
  ".google.protobuf.BoolValue": "bool",
  ".google.protobuf.StringValue": "string",
  ".google.protobuf.BytesValue": "bytes",
};
// Well-known types whose JSON form is not an object of fields: inside an Any they sit under "value".
const SPECIAL_JSON = new Set([
  ".google.protobuf.Any", ".google.protobuf.Duration", ".google.protobuf.Timestamp", ".google.protobuf.FieldMask",
  ".google.protobuf.Struct", ".google.protobuf.Value", ".google.protobuf.ListValue", ...Object.keys(WRAPPERS),
]);
// Envoy converts a TypedStruct's `value` into the type its `type_url` names.
const TYPED_STRUCTS = new Set([".xds.type.v3.TypedStruct", ".udpa.type.v1.TypedStruct"]);

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n], sint32: [-(2n ** 31n), 2n ** 31n - 1n], sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n], fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n], sint64: [-(2n ** 63n), 2n ** 63n - 1n], sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n], fixed64: [0n, 2n ** 64n - 1n],
};
const FLOAT_MAX = 3.4028234663852886e38;
// protobuf's Duration range: ±10,000 years.
const DURATION_MAX_SECONDS = 315576000000;

export class Decoder {
  private readonly fieldIndex = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

  /**
   * `rules: false` skips the validation rules, for fragments (an Istio MERGE patch) that are not
   * whole messages. `envoyVersion` (default: the current release) decides whether a field newer
   * than the protos (versions.ts NEWER_FIELDS) is known.
   */
  constructor(private readonly root: protobuf.Root, readonly issues: Issues, private readonly options: { rules: boolean; envoyVersion?: string } = { rules: true }) {}

  /** A message type by full name, or undefined. */
  lookup(name: string): protobuf.Type | undefined {
    const found = this.root.lookup(name);
    return found instanceof protobuf.Type ? found : undefined;
  }

  /** Decodes `value` as `type` (well-known types by their special JSON forms). */
  decode(type: protobuf.Type, value: unknown, path: Path): unknown {
    const name = type.fullName;
    if (name === ".google.protobuf.Any") return this.any(value, path);
    if (name === ".google.protobuf.Duration") return this.duration(value, path);
    if (name === ".google.protobuf.Timestamp") return this.timestamp(value, path);
    if (name === ".google.protobuf.FieldMask") return this.expect(value, path, "a field mask string", typeof value === "string");
    if (name === ".google.protobuf.Struct") return this.expect(value, path, "an object", isObject(value));
    if (name === ".google.protobuf.ListValue") return this.expect(value, path, "a list", Array.isArray(value));
    if (name === ".google.protobuf.Value") return value;
    if (WRAPPERS[name]) return this.scalar(WRAPPERS[name], value, path);
    const out = this.message(type, value, path);
    if (out && TYPED_STRUCTS.has(name)) this.typedStruct(out, path);
    return out;
  }

  private message(type: protobuf.Type, value: unknown, path: Path): Canonical | undefined {
    if (!isObject(value)) {
      this.issues.error(path, `expected an object (${bare(type.fullName)}), got ${kind(value)}`);
      return undefined;
    }
    const out: Canonical = {};
    const written = new Map<string, string>(); // field name -> key as written
    const oneofs = new Map<string, string>(); // oneof name -> key as written
    const failed = new Set<string>(); // fields written with a value that did not decode
    for (const [key, v] of Object.entries(value)) {
      const at = [...path, key];
      const f = this.field(type, key);
      if (!f) {
        const newer = newerField(type.fullName, key);
        if (newer) this.newer(newer, v, at, out);
        else this.issues.error(at, unknownField(type, key));
        continue;
      }
      const before = written.get(f.name);
      if (before !== undefined) {
        this.issues.error(at, `field ${f.name} is already set (as "${before}")`);
        continue;
      }
      written.set(f.name, key);
      if (v === null && f.resolvedType?.fullName !== ".google.protobuf.Value") continue; // JSON null: unset
      const oneof = f.partOf;
      if (oneof && !isSyntheticOneof(oneof)) {
        const other = oneofs.get(oneof.name);
        if (other !== undefined) {
          this.issues.error(at, `only one of ${oneof.fieldsArray.map((x) => x.name).join(", ")} may be set (oneof ${oneof.name}); "${other}" is set too`);
          continue;
        }
        oneofs.set(oneof.name, key);
      }
      if (f.options?.deprecated) this.issues.warn(at, `deprecated in Envoy's API${since(f)}`);
      if (f.options?.["(envoy.annotations.disallowed_by_default)"]) this.issues.error(at, "disallowed by default in Envoy (deprecated; Envoy rejects it unless a runtime override allows it)");
      const decoded = this.fieldValue(f, v, at);
      if (decoded !== undefined) out[f.name] = decoded;
      else failed.add(f.name);
    }
    if (this.options.rules) checkMessageRules(type, out, path, (f) => written.get(f.name) ?? f.name, failed, this.issues);
    return out;
  }

  /** A field newer than the protos: known from its Envoy release on, an enum of the listed names. */
  private newer(f: NewerField, v: unknown, at: Path, out: Canonical): void {
    const version = this.options.envoyVersion ?? CURRENT_ENVOY;
    if (typeof v !== "string" || !f.values.includes(v.toUpperCase())) {
      this.issues.error(at, `${typeof v === "string" ? `"${v}"` : kind(v)} is not a value of ${f.field} (expected one of: ${f.values.join(", ")})`);
      return;
    }
    // Kept even when this Envoy rejects it: the cross-checks then judge what was meant, once.
    out[f.field] = v.toUpperCase();
    if (!atLeast(version, f.since)) this.issues.error(at, `unknown field "${f.field}" in Envoy ${version}: it is new in Envoy ${f.since} (${f.older})`);
  }

  private field(type: protobuf.Type, key: string): protobuf.Field | undefined {
    let index = this.fieldIndex.get(type);
    if (!index) {
      index = new Map();
      for (const f of type.fieldsArray) {
        index.set(f.name, f);
        index.set((f.options?.json_name as string | undefined) ?? jsonName(f.name), f);
      }
      this.fieldIndex.set(type, index);
    }
    return index.get(key);
  }

  private fieldValue(f: protobuf.Field, v: unknown, path: Path): unknown {
    if (f instanceof protobuf.MapField) {
      if (!isObject(v)) {
        this.issues.error(path, `expected an object (map of ${f.keyType} to ${bare(f.type)}), got ${kind(v)}`);
        return undefined;
      }
      const out: Canonical = {};
      for (const [k, item] of Object.entries(v)) {
        this.mapKey(f.keyType, k, [...path, k]);
        const decoded = this.single(f, item, [...path, k]);
        if (decoded !== undefined) out[k] = decoded;
      }
      return out;
    }
    if (f.repeated) {
      if (!Array.isArray(v)) {
        this.issues.error(path, `expected a list, got ${kind(v)}`);
        return undefined;
      }
      return v.map((item, i) => {
        if (item === null) {
          this.issues.error([...path, i], "a list item cannot be null");
          return undefined;
        }
        return this.single(f, item, [...path, i]);
      });
    }
    return this.single(f, v, path);
  }

  private single(f: protobuf.Field, v: unknown, path: Path): unknown {
    const t = f.resolvedType;
    if (t instanceof protobuf.Type) return this.decode(t, v, path);
    if (t instanceof protobuf.Enum) return this.enumValue(t, v, path);
    return this.scalar(f.type, v, path);
  }

  private any(value: unknown, path: Path): unknown {
    if (!isObject(value)) {
      this.issues.error(path, `expected an object with "@type" (google.protobuf.Any), got ${kind(value)}`);
      return undefined;
    }
    const url = value["@type"];
    if (typeof url !== "string") {
      this.issues.error(path, `an Any needs "@type": "${TYPE_URL_PREFIX}<full type name>"`);
      return undefined;
    }
    const typePath = [...path, "@type"];
    if (!url.startsWith(TYPE_URL_PREFIX)) {
      this.issues.error(typePath, `a type URL must start with "${TYPE_URL_PREFIX}", got "${url}"`);
      return undefined;
    }
    const name = url.slice(TYPE_URL_PREFIX.length);
    const type = this.lookup(name);
    if (!type) {
      this.issues.error(typePath, `no type named ${name} in Envoy's v3 API (misspelled, a v2 type, or an extension this Envoy API does not define)`);
      return undefined;
    }
    const { "@type": _, ...body } = value;
    if (SPECIAL_JSON.has(type.fullName)) {
      for (const k of Object.keys(body)) if (k !== "value") this.issues.error([...path, k], `unknown field "${k}": an Any of ${name} holds its value under "value"`);
      return { "@type": url, value: this.decode(type, body.value, [...path, "value"]) };
    }
    const decoded = this.decode(type, body, path);
    return isObject(decoded) ? { "@type": url, ...decoded } : { "@type": url };
  }

  private typedStruct(out: Canonical, path: Path): void {
    const url = out.type_url;
    if (typeof url !== "string" || out.value === undefined) return;
    const type = this.lookup(url.slice(url.lastIndexOf("/") + 1));
    if (!type) {
      this.issues.error([...path, "type_url"], `no type named ${url.slice(url.lastIndexOf("/") + 1)} in Envoy's v3 API`);
      return;
    }
    out.value = this.decode(type, out.value, [...path, "value"]);
  }

  private duration(value: unknown, path: Path): unknown {
    const seconds = typeof value === "string" ? durationSeconds(value) : undefined;
    if (seconds === undefined) {
      this.issues.error(path, `expected a duration such as "1s" or "0.2s" (seconds with up to 9 decimals and an "s"), got ${kind(value)}${typeof value === "string" ? ` "${value}"` : ""}`);
      return undefined;
    }
    if (Math.abs(seconds) > DURATION_MAX_SECONDS) this.issues.error(path, `duration out of range: ${value}`);
    return value;
  }

  private timestamp(value: unknown, path: Path): unknown {
    const ok = typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(value) && !Number.isNaN(Date.parse(value));
    return this.expect(value, path, 'an RFC 3339 timestamp such as "2026-01-01T00:00:00Z"', ok);
  }

  private enumValue(e: protobuf.Enum, value: unknown, path: Path): unknown {
    if (e.fullName === ".google.protobuf.NullValue" && value === null) return "NULL_VALUE";
    if (typeof value === "string" && e.values[value] !== undefined) return value;
    // Envoy parses with protobuf's case_insensitive_enum_parsing: `round_robin` reads as ROUND_ROBIN.
    if (typeof value === "string" && e.values[value.toUpperCase()] !== undefined) return value.toUpperCase();
    if (typeof value === "number" && Number.isInteger(value) && e.valuesById[value] !== undefined) return e.valuesById[value];
    const names = Object.keys(e.values);
    this.issues.error(path, `${typeof value === "string" ? `"${value}"` : kind(value)} is not a value of enum ${bare(e.fullName)} (expected one of: ${names.join(", ")})`);
    return undefined;
  }

  private scalar(type: string, value: unknown, path: Path): unknown {
    switch (type) {
      case "string":
        if (typeof value === "string") return value;
        this.issues.error(path, `expected a string, got ${kind(value)}${typeof value === "number" || typeof value === "boolean" ? ` (${String(value)}; quote it)` : ""}`);
        return undefined;
      case "bool":
        return this.expect(value, path, "true or false", typeof value === "boolean");
      case "bytes":
        return this.expect(value, path, "base64-encoded bytes", typeof value === "string" && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value));
      case "double":
      case "float":
        return this.floating(type, value, path);
      default:
        return this.integer(type, value, path);
    }
  }

  private integer(type: string, value: unknown, path: Path): unknown {
    const range = INT_RANGES[type];
    let n: bigint | undefined;
    if (typeof value === "number" && Number.isInteger(value)) n = BigInt(value);
    else if (typeof value === "string" && /^-?\d+$/.test(value)) n = BigInt(value);
    if (n === undefined) {
      this.issues.error(path, `expected an integer (${type}), got ${kind(value)}${typeof value === "number" ? ` ${value}` : ""}`);
      return undefined;
    }
    if (n < range[0] || n > range[1]) {
      this.issues.error(path, `${n} is out of range for ${type} (${range[0]}..${range[1]})`);
      return undefined;
    }
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
  }

  private floating(type: string, value: unknown, path: Path): unknown {
    let n: number | undefined;
    if (typeof value === "number") n = value;
    else if (typeof value === "string" && (/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value) || ["NaN", "Infinity", "-Infinity"].includes(value))) n = Number(value);
    if (n === undefined) {
      this.issues.error(path, `expected a number (${type}), got ${kind(value)}`);
      return undefined;
    }
    if (type === "float" && Number.isFinite(n) && Math.abs(n) > FLOAT_MAX) this.issues.error(path, `${n} is out of range for float`);
    return n;
  }

  private mapKey(keyType: string, key: string, path: Path): void {
    if (keyType === "string") return;
    if (keyType === "bool") {
      if (key !== "true" && key !== "false") this.issues.error(path, `map key must be true or false, got "${key}"`);
      return;
    }
    this.integer(keyType, key, path);
  }

  private expect(value: unknown, path: Path, what: string, ok: boolean): unknown {
    if (ok) return value;
    this.issues.error(path, `expected ${what}, got ${kind(value)}`);
    return undefined;
  }
}

function bare(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

/** proto3 `optional` fields live in a synthetic oneof named `_<field>`; it constrains nothing. */
function isSyntheticOneof(o: protobuf.OneOf): boolean {
  return o.fieldsArray.length === 1 && o.name === `_${o.fieldsArray[0].name}`;
}

function since(f: protobuf.Field): string {
  const v = f.options?.["(envoy.annotations.deprecated_at_minor_version)"];
  return typeof v === "string" ? ` (since API ${v})` : "";
}

function unknownField(type: protobuf.Type, key: string): string {
  const names = type.fieldsArray.map((f) => f.name);
  const near = names.filter((n) => isNear(n, key) || isNear(jsonName(n), key));
  return `unknown field "${key}" in ${bare(type.fullName)}${near.length ? ` (did you mean ${near.join(" or ")}?)` : ""}`;
}
