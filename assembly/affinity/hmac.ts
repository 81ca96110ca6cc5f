// HMAC-SHA-256 (RFC 2104, FIPS 180-4), for the affinity cookie's signature. Written small: one
// compression loop, no unrolling, one scratch area; inputs here are a few bytes per request.

const K: StaticArray<u32> = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
const IV: StaticArray<u32> = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

const state = new StaticArray<u32>(8);
const w = new StaticArray<u32>(64);
const work = new StaticArray<u32>(8);
/** The message being hashed: at most one 64-byte key block plus 64 bytes (inner hash or input). */
const buf = new StaticArray<u8>(192);

function compress(block: usize): void {
  for (let i = 0; i < 16; i++) w[i] = bswap<u32>(load<u32>(block + (<usize>i << 2)));
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15], b = w[i - 2];
    w[i] = w[i - 16] + (rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3)) + w[i - 7] + (rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10));
  }
  for (let i = 0; i < 8; i++) work[i] = state[i];
  for (let i = 0; i < 64; i++) {
    const a = work[0], e = work[4];
    const t1 = work[7] + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & work[5]) ^ (~e & work[6])) + K[i] + w[i];
    const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & work[1]) ^ (a & work[2]) ^ (work[1] & work[2]));
    for (let j = 7; j > 0; j--) work[j] = work[j - 1];
    work[4] += t1;
    work[0] = t1 + t2;
  }
  for (let i = 0; i < 8; i++) state[i] += work[i];
}

/**
 * SHA-256 of `len` bytes at `data` (at most 119, which the callers keep to), written big-endian
 * to `out` (32 bytes). Pads in place in `buf`.
 */
function sha256(len: i32, out: usize): void {
  const p = changetype<usize>(buf);
  for (let i = 0; i < 8; i++) state[i] = IV[i];
  const blocks = (len + 8) / 64 + 1;
  memory.fill(p + <usize>len, 0, <usize>(blocks * 64 - len));
  store<u8>(p + <usize>len, 0x80);
  store<u64>(p + <usize>(blocks * 64 - 8), bswap<u64>(<u64>len << 3));
  for (let b = 0; b < blocks; b++) compress(p + <usize>(b * 64));
  for (let i = 0; i < 8; i++) store<u32>(out + (<usize>i << 2), bswap<u32>(state[i]));
}

/** An HMAC key as its 64-byte block (the parser keeps secrets to 64 bytes, so no hashing). */
export function hmacKey(secret: ArrayBuffer): StaticArray<u8> {
  const key = new StaticArray<u8>(64);
  memory.copy(changetype<usize>(key), changetype<usize>(secret), <usize>min(secret.byteLength, 64));
  return key;
}

/** HMAC-SHA-256(key, msg[0..len)) into `out` (32 bytes). `len` at most 55. */
export function hmac(key: StaticArray<u8>, msg: usize, len: i32, out: usize): void {
  const p = changetype<usize>(buf);
  for (let i = 0; i < 64; i++) store<u8>(p + <usize>i, key[i] ^ 0x36);
  memory.copy(p + 64, msg, <usize>len);
  sha256(64 + len, p + 128);
  for (let i = 0; i < 64; i++) store<u8>(p + <usize>i, key[i] ^ 0x5c);
  memory.copy(p + 64, p + 128, 32);
  sha256(96, out);
}
