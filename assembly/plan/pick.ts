// Stage 4 of the decision, per request: the candidate of a route's plan, at random by its split,
// or stable for an affinity key (weighted rendezvous hashing over the split).

import { PlanSet, RoutePlan } from "./route-plan";

export class Picker {
  /** The plans to pick from: the runner replaces them whole, each request reads them once. */
  plans: PlanSet | null = null;
  private state: u64 = 0x9e3779b97f4a7c15;

  /** Restarts the random sequence; a fixed seed makes `failover simulate --seed` repeatable. */
  seed(seed: u64): void {
    this.state = seed == 0 ? 0x9e3779b97f4a7c15 : seed;
  }

  /** A random candidate by the split. */
  random(plan: RoutePlan): i32 {
    const point = <i32>(this.nextRandom() % 10000);
    const cumulative = plan.cumulative;
    for (let i = 0; i < cumulative.length; i++) if (point < cumulative[i]) return i;
    return cumulative.length - 1;
  }

  /**
   * A stable candidate for an affinity key: a key keeps its cluster while that cluster keeps a
   * share, and only the keys of a cluster that loses its share move.
   */
  affinity(plan: RoutePlan, key: string): i32 {
    const base = fnv1a(key);
    const bp = plan.split.bp;
    let best = -1;
    let bestScore: f64 = -Infinity;
    for (let i = 0; i < bp.length; i++) {
      if (bp[i] <= 0) continue;
      const h = mix(base ^ (<u64>(plan.spec.clusters[i] + 1) * 0x9e3779b97f4a7c15));
      const u = (<f64>(h >> 11) + 0.5) / 9007199254740992.0; // (0, 1)
      const score = -<f64>bp[i] / ln(u);
      if (score > bestScore) { bestScore = score; best = i; }
    }
    return best < 0 ? this.random(plan) : best;
  }

  /** The next number of the sequence (xorshift64*: deterministic for a given seed). */
  nextRandom(): u64 {
    let x = this.state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    this.state = x;
    return x * 0x2545f4914f6cdd1d;
  }
}

/** FNV-1a over the UTF-16 units of `s`. */
export function fnv1a(s: string): u64 {
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < s.length; i++) {
    h ^= <u64>s.charCodeAt(i);
    h *= 0x100000001b3;
  }
  return h;
}

/**
 * ln(x) for a normal x > 0, to about 1e-9 (Math.log costs 400 bytes of module): x = m 2^e with
 * m in [1, 2), and ln m = 2 atanh s, s = (m - 1) / (m + 1) < 1/3, by its series.
 */
function ln(x: f64): f64 {
  const bits = reinterpret<u64>(x);
  const m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000);
  const s = (m - 1) / (m + 1);
  let term = s;
  let sum: f64 = 0;
  for (let k = 1; k < 18; k += 2) {
    sum += term / <f64>k;
    term *= s * s;
  }
  return 2 * sum + <f64>(<i32>(bits >> 52) - 1023) * 0.6931471805599453;
}

/** splitmix64 finalizer: spreads the bits of a hash. */
function mix(x: u64): u64 {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9;
  x ^= x >> 27;
  x *= 0x94d049bb133111eb;
  x ^= x >> 31;
  return x;
}
