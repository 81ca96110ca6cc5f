// Removes the allocator's block-size word (mmInfo) from the static objects of an AssemblyScript
// module built with the minimal runtime, so that these words start as zero memory instead of data.
//
// Why: asc writes each static string or array as a 20-byte header + payload; binaryen's memory
// packing then splits the header's zeros off, leaving the 4-byte size word as a segment of its
// own (~445 segments of 1 byte, about 7 bytes of segment overhead each: ~3.4 KB of the module).
// Why it is safe: the minimal runtime (std/assembly/rt/tcms.ts, assemblyscript 0.28.20) reads a
// block's mmInfo only for heap blocks: __renew takes a static object's length from rtSize, and
// __collect resets static objects without sizing or freeing them; TLSF never sees them. The
// build refuses any other runtime, and every suite runs the module built this way.

/** An unsigned LEB128 number. */
function uleb(n) {
  const out = [];
  do {
    let b = n & 127;
    n >>>= 7;
    if (n) b |= 128;
    out.push(b);
  } while (n);
  return out;
}

/** A signed LEB128 number (i32.const operands). */
function sleb(n) {
  const out = [];
  for (;;) {
    const b = n & 127;
    n >>= 7;
    if ((n === 0 && !(b & 64)) || (n === -1 && b & 64)) return [...out, b];
    out.push(b | 128);
  }
}

function reader(bytes, at) {
  return {
    at,
    u8() { return bytes[this.at++]; },
    leb() {
      let r = 0, shift = 0, b;
      do { b = bytes[this.at++]; r |= (b & 127) << shift; shift += 7; } while (b & 128);
      return r >>> 0;
    },
  };
}

const DATA = 11, DATA_COUNT = 12, I32_CONST = 0x41, END = 0x0b;

/** The module without the size words of its static objects; returns { bytes, dropped }. */
export function dropStaticBlockSizes(bytes) {
  const sections = [];
  const r = reader(bytes, 8);
  while (r.at < bytes.length) {
    const id = r.u8();
    const size = r.leb();
    sections.push({ id, body: bytes.subarray(r.at, r.at + size) });
    r.at += size;
  }
  const data = sections.find((s) => s.id === DATA);
  if (!data) return { bytes, dropped: 0 };
  const segments = [];
  const d = reader(data.body, 0);
  for (let n = d.leb(); n > 0; n--) {
    if (d.leb() !== 0 || d.u8() !== I32_CONST) return { bytes, dropped: 0 }; // not asc's layout: leave it
    const offset = Number(BigInt.asIntN(32, BigInt(d.leb())));
    if (d.u8() !== END) return { bytes, dropped: 0 };
    const len = d.leb();
    segments.push({ offset, bytes: data.body.subarray(d.at, d.at + len) });
    d.at += len;
  }
  const memory = new Map();
  for (const s of segments) s.bytes.forEach((b, i) => memory.set(s.offset + i, b));
  const word = (a) => ((memory.get(a) ?? 0) | (memory.get(a + 1) ?? 0) << 8 | (memory.get(a + 2) ?? 0) << 16 | (memory.get(a + 3) ?? 0) << 24) >>> 0;
  // A static object: mmInfo at 16n-4, then gcInfo = gcInfo2 = 0, rtId, rtSize; mmInfo is the
  // block's payload size, so at least the 16-byte object header + rtSize (rounded up by asc).
  const isSizeWord = (s) => s.bytes.length <= 4 && (s.offset + 4) % 16 === 0 &&
    word(s.offset + 4) === 0 && word(s.offset + 8) === 0 &&
    word(s.offset) >= 16 + word(s.offset + 16) && word(s.offset) < 16 + word(s.offset + 16) + 32;
  const kept = segments.filter((s) => !isSizeWord(s));
  const body = [...uleb(kept.length)];
  for (const s of kept) body.push(0, I32_CONST, ...sleb(s.offset), END, ...uleb(s.bytes.length), ...s.bytes);
  const out = [...bytes.subarray(0, 8)];
  for (const s of sections) {
    const b = s.id === DATA ? body : s.id === DATA_COUNT ? uleb(kept.length) : s.body;
    out.push(s.id, ...uleb(b.length), ...b);
  }
  return { bytes: Uint8Array.from(out), dropped: segments.length - kept.length };
}
