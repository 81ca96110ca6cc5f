import { itoa } from "./text";
// A small JSON reader for plugin configuration. It runs at configure time only, never per
// request, and reports syntax errors with line and column so an operator can find them.


export enum JsonKind { Null, Bool, Number, String, Array, Object }

export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  bool: bool = false;
  num: f64 = 0;
  str: string = "";
  items: Array<JsonValue> = [];
  keys: Array<string> = [];
  values: Map<string, JsonValue> = new Map();

  get isNull(): bool { return this.kind == JsonKind.Null; }
  get isObject(): bool { return this.kind == JsonKind.Object; }
  get isArray(): bool { return this.kind == JsonKind.Array; }
  get isString(): bool { return this.kind == JsonKind.String; }
  get isNumber(): bool { return this.kind == JsonKind.Number; }
  get isBool(): bool { return this.kind == JsonKind.Bool; }

  has(key: string): bool { return this.kind == JsonKind.Object && this.values.has(key); }
  /** The member `key` of an object, or null when absent (or when this is not an object). */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Object || !this.values.has(key)) return null;
    return this.values.get(key);
  }

  kindName(): string {
    switch (this.kind) {
      case JsonKind.Null: return "null";
      case JsonKind.Bool: return "boolean";
      case JsonKind.Number: return "number";
      case JsonKind.String: return "string";
      case JsonKind.Array: return "array";
      default: return "object";
    }
  }
}

/** Result of a parse: a value, or an error message naming line and column. */
export class JsonParse {
  value: JsonValue | null = null;
  error: string = "";
}

export function parseJson(text: string): JsonParse {
  const p = new Parser(text);
  const out = new JsonParse();
  const v = p.value(0);
  if (p.failed) {
    out.error = p.message;
    return out;
  }
  p.ws();
  if (p.pos < text.length) {
    out.error = p.where() + ": unexpected text after the document";
    return out;
  }
  out.value = v;
  return out;
}

const MAX_DEPTH = 64;

class Parser {
  pos: i32 = 0;
  failed: bool = false;
  message: string = "";
  constructor(public text: string) {}

  where(): string {
    let line = 1;
    let col = 1;
    const end = min(this.pos, this.text.length);
    for (let i = 0; i < end; i++) {
      if (this.text.charCodeAt(i) == 10) { line++; col = 1; } else col++;
    }
    return "line " + itoa(line) + ", column " + itoa(col);
  }

  fail(msg: string): JsonValue {
    if (!this.failed) {
      this.failed = true;
      this.message = this.where() + ": " + msg;
    }
    return new JsonValue();
  }

  ws(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c == 32 || c == 9 || c == 10 || c == 13) this.pos++;
      else break;
    }
  }

  value(depth: i32): JsonValue {
    if (depth > MAX_DEPTH) return this.fail("nesting deeper than " + itoa(MAX_DEPTH));
    this.ws();
    if (this.pos >= this.text.length) return this.fail("unexpected end of document");
    const c = this.text.charCodeAt(this.pos);
    if (c == 123) return this.object(depth);
    if (c == 91) return this.array(depth);
    if (c == 34) {
      const v = new JsonValue();
      v.kind = JsonKind.String;
      v.str = this.string();
      return v;
    }
    if (c == 45 || (c >= 48 && c <= 57)) return this.number();
    if (this.literal("true")) { const v = new JsonValue(); v.kind = JsonKind.Bool; v.bool = true; return v; }
    if (this.literal("false")) { const v = new JsonValue(); v.kind = JsonKind.Bool; return v; }
    if (this.literal("null")) return new JsonValue();
    return this.fail("unexpected character '" + String.fromCharCode(c) + "'");
  }

  literal(word: string): bool {
    if (this.text.substr(this.pos, word.length) == word) {
      this.pos += word.length;
      return true;
    }
    return false;
  }

  object(depth: i32): JsonValue {
    const v = new JsonValue();
    v.kind = JsonKind.Object;
    this.pos++; // {
    this.ws();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 125) { this.pos++; return v; }
    while (!this.failed) {
      this.ws();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 34) return this.fail("expected a quoted member name");
      const key = this.string();
      this.ws();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 58) return this.fail("expected ':' after member name");
      this.pos++;
      const item = this.value(depth + 1);
      if (this.failed) break;
      if (v.values.has(key)) return this.fail("duplicate member \"" + key + "\"");
      v.keys.push(key);
      v.values.set(key, item);
      this.ws();
      if (this.pos >= this.text.length) return this.fail("unterminated object");
      const c = this.text.charCodeAt(this.pos++);
      if (c == 125) return v;
      if (c != 44) { this.pos--; return this.fail("expected ',' or '}' in object"); }
    }
    return v;
  }

  array(depth: i32): JsonValue {
    const v = new JsonValue();
    v.kind = JsonKind.Array;
    this.pos++; // [
    this.ws();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 93) { this.pos++; return v; }
    while (!this.failed) {
      const item = this.value(depth + 1);
      if (this.failed) break;
      v.items.push(item);
      this.ws();
      if (this.pos >= this.text.length) return this.fail("unterminated array");
      const c = this.text.charCodeAt(this.pos++);
      if (c == 93) return v;
      if (c != 44) { this.pos--; return this.fail("expected ',' or ']' in array"); }
    }
    return v;
  }

  string(): string {
    const t = this.text;
    this.pos++; // opening quote
    let out = "";
    let start = this.pos;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c == 34) {
        out += t.substring(start, this.pos);
        this.pos++;
        return out;
      }
      if (c < 32) { this.fail("control character in string"); return out; }
      if (c == 92) {
        out += t.substring(start, this.pos);
        this.pos++;
        if (this.pos >= t.length) break;
        const e = t.charCodeAt(this.pos++);
        if (e == 34) out += "\"";
        else if (e == 92) out += "\\";
        else if (e == 47) out += "/";
        else if (e == 98) out += "\b";
        else if (e == 102) out += "\f";
        else if (e == 110) out += "\n";
        else if (e == 114) out += "\r";
        else if (e == 116) out += "\t";
        else if (e == 117) {
          const code = this.hex4();
          if (this.failed) return out;
          out += String.fromCharCode(code);
        } else { this.pos--; this.fail("bad escape in string"); return out; }
        start = this.pos;
      } else this.pos++;
    }
    this.fail("unterminated string");
    return out;
  }

  hex4(): i32 {
    if (this.pos + 4 > this.text.length) { this.fail("short \\u escape"); return 0; }
    let code = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.text.charCodeAt(this.pos++);
      let d = -1;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      if (d < 0) { this.fail("bad hex digit in \\u escape"); return 0; }
      code = (code << 4) | d;
    }
    return code;
  }

  /**
   * A number, its value computed while its syntax is checked: integers are exact; decimals are
   * mantissa / 10^digits, correctly rounded for the short numbers a policy holds.
   */
  number(): JsonValue {
    const t = this.text;
    const start = this.pos;
    const neg = t.charCodeAt(this.pos) == 45;
    if (neg) this.pos++;
    let mantissa: f64 = 0;
    let exp = 0;
    const first = this.pos;
    while (this.digit()) mantissa = mantissa * 10 + <f64>(t.charCodeAt(this.pos++) - 48);
    if (this.pos == first) return this.fail("bad number");
    if (this.pos < t.length && t.charCodeAt(this.pos) == 46) {
      const dot = ++this.pos;
      while (this.digit()) { mantissa = mantissa * 10 + <f64>(t.charCodeAt(this.pos++) - 48); exp--; }
      if (this.pos == dot) return this.fail("bad number: digits expected after '.'");
    }
    if (this.pos < t.length && (t.charCodeAt(this.pos) | 32) == 101) {
      this.pos++;
      const eneg = this.pos < t.length && t.charCodeAt(this.pos) == 45;
      if (eneg || (this.pos < t.length && t.charCodeAt(this.pos) == 43)) this.pos++;
      const at = this.pos;
      let e = 0;
      while (this.digit()) { if (e < 10000) e = e * 10 + (t.charCodeAt(this.pos) - 48); this.pos++; }
      if (this.pos == at) return this.fail("bad number: digits expected in exponent");
      exp += eneg ? -e : e;
    }
    const v = new JsonValue();
    v.kind = JsonKind.Number;
    v.str = t.substring(start, this.pos); // as written, for messages
    let p: f64 = 1;
    for (let i = 0; i < abs(exp) && p != Infinity; i++) p *= 10;
    const value = exp < 0 ? mantissa / p : mantissa * p;
    v.num = neg ? -value : value;
    return v;
  }

  digit(): bool {
    return this.pos < this.text.length && isDigit(this.text.charCodeAt(this.pos));
  }
}

// @ts-ignore: decorator
@inline function isDigit(c: i32): bool { return c >= 48 && c <= 57; }

/** Quotes a string as a JSON string literal. */
export function quote(s: string): string {
  let out = "\"";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c == 34) esc = "\\\"";
    else if (c == 92) esc = "\\\\";
    else if (c == 10) esc = "\\n";
    else if (c == 13) esc = "\\r";
    else if (c == 9) esc = "\\t";
    else if (c < 32) esc = "\\u00" + String.fromCharCode(48 + (c >> 4)) + String.fromCharCode(c & 15 < 10 ? 48 + (c & 15) : 87 + (c & 15));
    if (esc !== null) {
      out += s.substring(start, i) + esc;
      start = i + 1;
    }
  }
  return out + s.substring(start) + "\"";
}
