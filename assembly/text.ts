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
  let s = (neg && scaled != 0 ? "-" : "") + itoa(whole);
  if (frac == 0) return s;
  let digits = decimals;
  while (frac % 10 == 0) { frac /= 10; digits--; }
  const f = itoa(frac);
  s += ".";
  for (let i = f.length; i < digits; i++) s += "0";
  return s + f;
}


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

/** An integer in decimal. One routine for every width: i32's and i64's toString are two. */
export function itoa(n: i64): string {
  return n.toString();
}
