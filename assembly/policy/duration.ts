// Durations in the policy: "250ms", "30s", "5m", "1h", or a plain number of milliseconds.

/** Milliseconds, or -1 when `text` is not a duration. */
export function parseDurationMs(text: string): f64 {
  let i = 0;
  let value: f64 = 0;
  let digits = 0;
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) {
    value = value * 10 + <f64>(text.charCodeAt(i) - 48);
    i++;
    digits++;
  }
  if (i < text.length && text.charCodeAt(i) == 46) {
    i++;
    let scale: f64 = 0.1;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) {
      value += <f64>(text.charCodeAt(i) - 48) * scale;
      scale /= 10;
      i++;
      digits++;
    }
  }
  if (digits == 0) return -1;
  const unit = text.substring(i);
  if (unit == "ms") return value;
  if (unit == "s") return value * 1000;
  if (unit == "m") return value * 60000;
  if (unit == "h") return value * 3600000;
  return -1;
}
