// Envoy provides no `env.abort`, which AssemblyScript imports by default; the build routes
// `abort` here (asconfig `use`). We log what failed through proxy_log, then trap, so the host
// sees a clear message followed by the trap instead of a link error at load time.
// Nothing here allocates or relies on module globals: abort may run out of memory or at start-up.

import { proxy_log } from "./imports";
import { LogLevel } from "./types";

// @ts-ignore: decorator
@inline const BUF_SIZE: usize = 512;

/** Appends `s` at `at` (ASCII; others become '?'); returns the new end. */
function append(buf: usize, at: usize, s: string): usize {
  for (let i = 0; i < s.length && at < BUF_SIZE; i++) {
    const c = s.charCodeAt(i);
    store<u8>(buf + at++, c < 128 ? <u8>c : <u8>63);
  }
  return at;
}

function appendNumber(buf: usize, at: usize, n: u32): usize {
  let div: u32 = 1000000000;
  let started = false;
  while (div > 0) {
    const d = (n / div) % 10;
    if (d != 0 || started || div == 1) {
      if (at < BUF_SIZE) store<u8>(buf + at++, <u8>(48 + d));
      started = true;
    }
    div /= 10;
  }
  return at;
}

export function onAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const buf = memory.data(<i32>BUF_SIZE);
  let at = append(buf, 0, "wasm abort: ");
  at = append(buf, at, message !== null ? message : "(no message)");
  at = append(buf, at, " at ");
  at = append(buf, at, fileName !== null ? fileName : "(unknown)");
  at = append(buf, at, ":");
  at = appendNumber(buf, at, line);
  at = append(buf, at, ":");
  at = appendNumber(buf, at, column);
  proxy_log(LogLevel.Critical, buf, at);
  unreachable();
}
