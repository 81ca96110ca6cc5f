// Small string helpers for header names and host names, which are ASCII. (String#toLowerCase
// would pull Unicode case tables into the module for no benefit.)

/** `s` with A-Z lowered; other characters unchanged. Returns `s` itself when nothing changes. */
export function asciiLower(s: string): string {
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) break;
    i++;
  }
  if (i == s.length) return s;
  let out = s.substring(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
  }
  return out;
}

/** A number with at most `decimals` decimals and no trailing zeros ("1.5", "100", "-0.25"). */
export function formatNumber(v: f64, decimals: i32 = 2): string {
  let scale: f64 = 1;
  for (let i = 0; i < decimals; i++) scale *= 10;
  const neg = v < 0;
  const scaled = <i64>Math.round(Math.abs(v) * scale);
  const unit = <i64>scale;
  const whole = scaled / unit;
  let frac = scaled % unit;
  let s = (neg && scaled != 0 ? "-" : "") + whole.toString();
  if (frac == 0) return s;
  let digits = decimals;
  while (frac % 10 == 0) { frac /= 10; digits--; }
  const f = frac.toString();
  s += ".";
  for (let i = f.length; i < digits; i++) s += "0";
  return s + f;
}

/**
 * The value of a JSON number literal (already checked for syntax). Integers are exact; decimals
 * are mantissa / 10^digits, correctly rounded for the short numbers a policy holds.
 */
export function parseDecimal(text: string): f64 {
  let i = 0;
  const neg = text.charCodeAt(0) == 45;
  if (neg) i++;
  let mantissa: f64 = 0;
  let exp = 0;
  while (i < text.length && isDigit(text.charCodeAt(i))) mantissa = mantissa * 10 + <f64>(text.charCodeAt(i++) - 48);
  if (i < text.length && text.charCodeAt(i) == 46) {
    i++;
    while (i < text.length && isDigit(text.charCodeAt(i))) {
      mantissa = mantissa * 10 + <f64>(text.charCodeAt(i++) - 48);
      exp--;
    }
  }
  if (i < text.length && (text.charCodeAt(i) | 32) == 101) {
    i++;
    const eneg = text.charCodeAt(i) == 45;
    if (eneg || text.charCodeAt(i) == 43) i++;
    let e = 0;
    while (i < text.length && isDigit(text.charCodeAt(i)) && e < 10000) e = e * 10 + (text.charCodeAt(i++) - 48);
    exp += eneg ? -e : e;
  }
  let value = mantissa;
  if (exp < 0) value /= pow10(-exp);
  else if (exp > 0) value *= pow10(exp);
  return neg ? -value : value;
}

function pow10(n: i32): f64 {
  let r: f64 = 1;
  for (let i = 0; i < n && r != Infinity; i++) r *= 10;
  return r;
}

// @ts-ignore: decorator
@inline function isDigit(c: i32): bool { return c >= 48 && c <= 57; }

/**
 * The pieces as one string, in linear time. (`+=` in a loop copies the growing string each time,
 * and so does Array#join at shrinkLevel 1.)
 */
export function concat(parts: Array<string>): string {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i].length;
  const out = changetype<string>(__new(<usize>n << 1, idof<string>()));
  let at = changetype<usize>(out);
  for (let i = 0; i < parts.length; i++) {
    const size = <usize>parts[i].length << 1;
    memory.copy(at, changetype<usize>(parts[i]), size);
    at += size;
  }
  return out;
}

/** The `index`-th field of `s` split at character `sep`, or null past the last one. */
export function field(s: string, sep: i32, index: i32): string | null {
  let start = 0;
  for (let i = 0; i < index; i++) {
    const at = s.indexOf(String.fromCharCode(sep), start);
    if (at < 0) return null;
    start = at + 1;
  }
  const end = s.indexOf(String.fromCharCode(sep), start);
  return s.substring(start, end < 0 ? s.length : end);
}

/** `s` without leading and trailing spaces and tabs (String#trim brings Unicode tables). */
export function trimSpaces(s: string): string {
  let a = 0, b = s.length;
  while (a < b && (s.charCodeAt(a) == 32 || s.charCodeAt(a) == 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) == 32 || s.charCodeAt(b - 1) == 9)) b--;
  return s.substring(a, b);
}
