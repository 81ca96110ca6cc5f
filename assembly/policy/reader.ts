// The policy reader's primitives: typed members of a JSON object, each checked, every problem
// collected with the exact path of the member at fault (parse.ts reads the policy with them).

import { JsonValue, quote } from "../json";
import { parseDurationMs } from "./duration";
import { formatNumber, itoa } from "../text";

/** Cluster, aggregate and route names travel in headers and in the plan, once per route and cluster. */
const MAX_NAME = 255;

export class FieldReader {
  errors: Array<string> = [];

  fail(path: string, message: string): void {
    this.errors.push((path.length > 0 ? path : "document") + ": " + message);
  }

  /** Checks that `v` is an object whose members are all in `allowed`. */
  object(v: JsonValue | null, path: string, allowed: Array<string>): bool {
    if (v === null) return false;
    if (!v.isObject) {
      this.fail(path, "expected an object, got " + v.kindName());
      return false;
    }
    for (let i = 0; i < v.keys.length; i++) {
      if (!allowed.includes(v.keys[i])) {
        let names = "";
        for (let j = 0; j < allowed.length; j++) names += (j > 0 ? ", " : "") + allowed[j];
        this.fail(join(path, v.keys[i]), "unknown field (expected one of: " + names + ")");
      }
    }
    return true;
  }

  str(obj: JsonValue, key: string, path: string, fallback: string, required: bool = false): string {
    const v = obj.get(key);
    if (v === null) {
      if (required) this.fail(join(path, key), "required");
      return fallback;
    }
    if (!v.isString) {
      this.fail(join(path, key), "expected a string, got " + v.kindName());
      return fallback;
    }
    return v.str;
  }

  /**
   * A cluster, aggregate or route name: it travels in the routing and explanation headers and in
   * metric names: no NUL, CR, LF, spaces or other controls (UTF-8 is a valid header value).
   */
  name(obj: JsonValue, path: string, fallback: string, required: bool): string {
    const s = this.str(obj, "name", path, fallback, required);
    if (s.length > MAX_NAME) this.fail(join(path, "name"), "at most " + itoa(MAX_NAME) + " characters");
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c <= 32 || c == 127) {
        this.fail(join(path, "name"), "no spaces or control characters in a name, got " + quote(s));
        break;
      }
    }
    return s;
  }

  bool(obj: JsonValue, key: string, path: string, fallback: bool): bool {
    const v = obj.get(key);
    if (v === null) return fallback;
    if (!v.isBool) {
      this.fail(join(path, key), "expected true or false, got " + v.kindName());
      return fallback;
    }
    return v.bool;
  }

  num(obj: JsonValue, key: string, path: string, fallback: f64, lo: f64, hi: f64): f64 {
    const v = obj.get(key);
    if (v === null) return fallback;
    return this.numValue(v, join(path, key), fallback, lo, hi);
  }

  numValue(v: JsonValue, path: string, fallback: f64, lo: f64, hi: f64): f64 {
    if (!v.isNumber) {
      this.fail(path, "expected a number, got " + v.kindName());
      return fallback;
    }
    if (v.num < lo || v.num > hi) {
      this.fail(path, "must be between " + fmt(lo) + " and " + fmt(hi) + ", got " + v.str);
      return fallback;
    }
    return v.num;
  }

  int(obj: JsonValue, key: string, path: string, fallback: i32, lo: i32, hi: i32): i32 {
    const v = obj.get(key);
    if (v === null) return fallback;
    const n = this.numValue(v, join(path, key), <f64>fallback, <f64>lo, <f64>hi);
    if (n != Math.floor(n)) {
      this.fail(join(path, key), "must be a whole number, got " + v.str);
      return fallback;
    }
    return <i32>n;
  }

  /** A duration: "250ms", "30s", "5m", "1h" or a number of milliseconds. */
  duration(obj: JsonValue, key: string, path: string, fallback: f64, minMs: f64): f64 {
    const v = obj.get(key);
    if (v === null) return fallback;
    let ms: f64 = -1;
    if (v.isNumber) ms = v.num;
    else if (v.isString) ms = parseDurationMs(v.str);
    if (ms < 0) {
      this.fail(join(path, key), "expected a duration such as \"500ms\", \"30s\" or \"5m\"");
      return fallback;
    }
    if (ms < minMs) {
      this.fail(join(path, key), "must be at least " + fmt(minMs) + "ms");
      return fallback;
    }
    return ms;
  }

  strings(obj: JsonValue, key: string, path: string): Array<string> {
    const out = new Array<string>();
    const v = obj.get(key);
    if (v === null) return out;
    if (!v.isArray) {
      this.fail(join(path, key), "expected a list of strings, got " + v.kindName());
      return out;
    }
    for (let i = 0; i < v.items.length; i++) {
      const item = v.items[i];
      if (!item.isString) this.fail(itemPath(path, key, i), "expected a string, got " + item.kindName());
      else out.push(item.str);
    }
    return out;
  }

  array(obj: JsonValue, key: string, path: string): Array<JsonValue> {
    const v = obj.get(key);
    if (v === null) return [];
    if (!v.isArray) {
      this.fail(join(path, key), "expected a list, got " + v.kindName());
      return [];
    }
    return v.items;
  }

  // ---- sections ------------------------------------------------------------------------------

}

export function join(path: string, key: string): string {
  return path.length == 0 ? key : path + "." + key;
}

/** The path of item `i` of array member `key`: "routes[1]", "routes[1].retry.retriableStatusCodes[0]". */
export function itemPath(path: string, key: string, i: i32): string {
  return join(path, key) + "[" + itoa(i) + "]";
}

/** A bound in a message: whole numbers in full (formatNumber would overflow past 2^63 / 1000). */
export function fmt(n: f64): string {
  return n == Math.floor(n) ? itoa((<i64>n)) : formatNumber(n, 3);
}


/** Is `item` one of the ", "-separated items of `list`? */
export function listed(list: string, item: string): bool {
  return item.length > 0 && (", " + list + ", ").includes(", " + item + ", ");
}

export function isToken(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c == 45 || c == 95 || c == 46;
    if (!ok) return false;
  }
  return true;
}

export function isHeaderName(s: string): bool {
  return isToken(s) && s.charCodeAt(0) != 58;
}
