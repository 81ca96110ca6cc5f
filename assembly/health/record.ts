// One cluster's health as all Envoy worker threads share it (proxy-wasm shared data, one key per
// cluster, written with compare-and-swap): a sliding window of outcome buckets, Envoy-style
// outlier detection counters and ejection state, a latency baseline, and the published score.
//
// The score (0..100) estimates the share of the cluster that is healthy:
//   anchor   = min(1, previous success + elapsed / baseEjectionTime)
//                                                  what we believe without new evidence: the last
//                                                  estimate, drifting back to healthy over an
//                                                  ejection time (as an ejected host returns)
//   success  = (ok + k x anchor) / (requests + k)  over the window; k = minRequests, so little
//                                                  traffic moves the estimate little, and a cluster
//                                                  that gets no traffic keeps what we knew
//   latency  = clamp((mean / baseline - tolerance) / tolerance, 0, 1)
//                                                  0 until the window's mean latency exceeds
//                                                  tolerance x the cluster's own baseline, 1 at 2x that
//   target   = 0 while ejected; otherwise 100 x success x (1 - latencyWeight x latency)
//   score    = follows the target when it is `hysteresis` points away or more (so a cluster
//              hovering at a threshold of Envoy's split does not flap): down at once (fast
//              failover), up by at most 100 points per slowStart (gradual failback, after an
//              ejection as after a brownout). A score of 100 is always reached.

import { HealthSpec } from "../policy/model";

export const BUCKETS = 10;

/** What happened to one upstream attempt. */
export enum Outcome { Success, Http5xx, Gateway5xx, LocalConnectFailure, LocalTimeout }

/** Distinct failing sources remembered per outlier interval (health.outlierDetection.minSources at most). */
export const MAX_SOURCES = 7;

const MAGIC: u32 = 0x46484c35; // "FHL5"
// Where each count's run of buckets starts in HealthRecord.counts.
const REQ = 0, FAIL = BUCKETS, LOCAL = 2 * BUCKETS, LAT_N = 3 * BUCKETS, LAT_SUM = 4 * BUCKETS;
/** Bytes of HealthRecord's own fields, the copied part (up to its first array). */
const FIELDS: usize = offsetof<HealthRecord>("sources");
/** 340 bytes: 4 (magic) + 108 (fields) + 28 (sources) + 10 buckets x 5 u32 (latency in whole ms). */
export const RECORD_SIZE = 4 + <i32>FIELDS + 4 * MAX_SOURCES + BUCKETS * 5 * 4;

export class HealthRecord {
  // The shared record is MAGIC, then these fields as they lie in memory (up to `sources`), then
  // the arrays: read and written by copying (a field-by-field codec cost a kilobyte of module).
  epoch: i64 = 0; // index of the newest bucket: floor(now / bucketMs)
  ejectedUntilMs: i64 = 0; // 0: not ejected
  lastEjectionMs: i64 = 0;
  lastUnejectionMs: i64 = 0;
  lastBaselineMs: i64 = 0;
  lastScoreMs: i64 = 0;
  consecutive5xx: u32 = 0;
  consecutiveGateway: u32 = 0;
  consecutiveLocal: u32 = 0;
  backoff: u32 = 0; // ejection time multiplier, as Envoy's
  ejections: u32 = 0; // lifetime count
  probeSuccesses: u32 = 0;
  baselineMs: f64 = 0; // 0: unknown yet
  published: f64 = -1; // -1: never scored
  success: f64 = 1; // the success estimate behind the score (0..1)
  // Failing sources of this outlier interval. Until minSources distinct ones failed, their
  // failures are held here, out of the window and the consecutive counters, so one client
  // cannot eject the cluster or lower its score for everyone.
  sourceEpoch: u32 = 0; // outlier interval index, low 32 bits
  heldFailures: u32 = 0;
  heldRun: u16 = 0;
  sourceCount: u16 = 0;
  // ---- end of the copied fields
  sources: StaticArray<u32> = new StaticArray<u32>(MAX_SOURCES);
  /** The window's buckets, one run of BUCKETS per count: REQ, FAIL, LOCAL, LAT_N, LAT_SUM (whole ms, saturating). */
  counts: StaticArray<u32> = new StaticArray<u32>(5 * BUCKETS);

  clear(): void {
    memory.fill(changetype<usize>(this), 0, FIELDS);
    this.success = 1;
    this.published = -1;
    memory.fill(changetype<usize>(this.sources), 0, 4 * MAX_SOURCES);
    for (let i = 0; i < BUCKETS; i++) this.clearBucket(i);
  }

  clearBucket(i: i32): void {
    for (let k = i; k < 5 * BUCKETS; k += BUCKETS) this.counts[k] = 0;
  }

  get ejected(): bool { return this.ejectedUntilMs != 0; }

  /** Reads a record; false (and a cleared record) when `size` bytes are not one of ours. */
  decode(ptr: usize, size: usize): bool {
    if (size != <usize>RECORD_SIZE || load<u32>(ptr) != MAGIC) {
      this.clear();
      return false;
    }
    this.copy(ptr, false);
    return true;
  }

  encode(ptr: usize): void {
    store<u32>(ptr, MAGIC);
    this.copy(ptr, true);
  }

  private copy(ptr: usize, out: bool): void {
    let at = ptr + 4;
    at = move(at, changetype<usize>(this), FIELDS, out);
    at = move(at, changetype<usize>(this.sources), 4 * MAX_SOURCES, out);
    move(at, changetype<usize>(this.counts), 4 * 5 * BUCKETS, out);
  }

  /** Moves the window to `nowMs`, clearing buckets that aged out. */
  rotate(nowMs: i64, h: HealthSpec): void {
    const bucketMs = max<i64>(1, <i64>(h.windowMs / BUCKETS));
    const epoch = nowMs / bucketMs;
    if (epoch <= this.epoch) return;
    const steps = epoch - this.epoch;
    if (steps >= BUCKETS || this.epoch == 0) {
      for (let i = 0; i < BUCKETS; i++) this.clearBucket(i);
    } else {
      for (let s: i64 = 1; s <= steps; s++) this.clearBucket(<i32>((this.epoch + s) % BUCKETS));
    }
    this.epoch = epoch;
  }

  /**
   * Records one attempt's outcome with Envoy's outlier-detection rules. Returns true when this
   * outcome ejects the cluster (the caller decides whether max_ejection_percent allows it, via
   * `mayEject`).
   */
  record(outcome: Outcome, latencyMs: f64, nowMs: i64, h: HealthSpec, mayEject: bool, source: u32): bool {
    this.rotate(nowMs, h);
    const b = <i32>(this.epoch % BUCKETS);
    const o = h.outlier;
    let local = outcome == Outcome.LocalConnectFailure || outcome == Outcome.LocalTimeout;
    // Without the split, a local-origin failure counts as the code Envoy maps it to: connect
    // failure -> 503, timeout -> 504, both gateway errors.
    let code5xx = outcome == Outcome.Http5xx || outcome == Outcome.Gateway5xx || (local && !o.splitExternalLocalOriginErrors);
    let gateway = outcome == Outcome.Gateway5xx || (local && !o.splitExternalLocalOriginErrors);
    let trigger = false;
    let run: u32 = 1;
    if (outcome != Outcome.Success && o.minSources > 1) {
      if (!this.failedFrom(source, nowMs, h)) return false;
      // Enough sources: what was held counts now, in the window and in the run.
      this.counts[REQ + b] += this.heldFailures;
      this.counts[FAIL + b] += this.heldFailures;
      run += this.heldRun;
      this.heldFailures = 0;
      this.heldRun = 0;
    }
    this.counts[REQ + b]++;

    if (local) this.counts[LOCAL + b]++;
    else if (code5xx) this.counts[FAIL + b]++;
    else {
      this.counts[LAT_N + b]++;
      const sum = <u64>this.counts[LAT_SUM + b] + <u64>max<f64>(0, latencyMs);
      this.counts[LAT_SUM + b] = sum > 0xffffffff ? 0xffffffff : <u32>sum;
    }

    if (this.ejected) {
      // A probe: enough successes in a row re-admit the cluster before its ejection ends.
      if (!local && !code5xx) {
        this.probeSuccesses++;
        if (<i32>this.probeSuccesses >= h.probeSuccesses) this.uneject(nowMs);
      } else this.probeSuccesses = 0;
      return false;
    }

    if (code5xx) {
      if (gateway) {
        this.consecutiveGateway += run;
        if (o.consecutiveGatewayErrors > 0 && this.consecutiveGateway >= <u32>o.consecutiveGatewayErrors) trigger = true;
      } else this.consecutiveGateway = 0;
      this.consecutive5xx += run;
      if (o.consecutive5xx > 0 && this.consecutive5xx >= <u32>o.consecutive5xx) trigger = true;
    } else if (local) {
      this.consecutiveLocal += run;
      if (o.consecutiveLocalOriginFailures > 0 && this.consecutiveLocal >= <u32>o.consecutiveLocalOriginFailures) trigger = true;
    } else {
      this.consecutive5xx = 0;
      this.consecutiveGateway = 0;
      this.consecutiveLocal = 0;
      this.heldRun = 0;
    }
    if (trigger && mayEject) {
      this.eject(nowMs, h);
      return true;
    }
    if (trigger) {
      // Refused by max_ejection_percent: Envoy resets the counter that fired.
      this.consecutive5xx = 0; this.consecutiveGateway = 0; this.consecutiveLocal = 0;
    }
    return false;
  }

  /**
   * Notes a failure from `source` (a hash) in this outlier interval; true once at least
   * minSources distinct sources failed in it, else the failure is held. A new interval forgets
   * the sources and what they held.
   */
  failedFrom(source: u32, nowMs: i64, h: HealthSpec): bool {
    const o = h.outlier;
    const epoch = <u32>(nowMs / max<i64>(1, <i64>o.intervalMs));
    if (epoch != this.sourceEpoch) {
      this.sourceEpoch = epoch;
      this.sourceCount = 0;
      this.heldFailures = 0;
      this.heldRun = 0;
    }
    let known = false;
    for (let i: u32 = 0; i < this.sourceCount; i++) known = known || this.sources[i] == source;
    if (!known && this.sourceCount < <u32>MAX_SOURCES) this.sources[this.sourceCount++] = source;
    if (this.sourceCount >= <u32>o.minSources) return true;
    this.heldFailures++;
    if (this.heldRun < 0xffff) this.heldRun++;
    return false;
  }

  /** Envoy's ejectHost: the ejection time grows with consecutive ejections, capped at max. */
  eject(nowMs: i64, h: HealthSpec): void {
    const o = h.outlier;
    if (<f64>this.backoff * o.baseEjectionMs < o.maxEjectionMs + o.baseEjectionMs) this.backoff++;
    const duration = min<f64>(o.baseEjectionMs * <f64>this.backoff, o.maxEjectionMs);
    this.ejectedUntilMs = nowMs + <i64>duration;
    this.lastEjectionMs = nowMs;
    this.ejections++;
    this.probeSuccesses = 0;
    this.consecutive5xx = 0; this.consecutiveGateway = 0; this.consecutiveLocal = 0;
    this.published = 0;
  }

  uneject(nowMs: i64): void {
    this.ejectedUntilMs = 0;
    this.lastUnejectionMs = nowMs;
    this.probeSuccesses = 0;
    this.consecutive5xx = 0; this.consecutiveGateway = 0; this.consecutiveLocal = 0;
  }

  /**
   * The periodic refresh (root tick): re-admission when the ejection time is over, backoff decay
   * while healthy (one step per outlier interval), the latency baseline, and the score.
   */
  refresh(nowMs: i64, h: HealthSpec): void {
    this.rotate(nowMs, h);
    const o = h.outlier;
    if (this.ejected && nowMs >= this.ejectedUntilMs) this.uneject(nowMs);
    if (!this.ejected && this.backoff > 0 && this.lastUnejectionMs > 0 && <f64>(nowMs - this.lastUnejectionMs) >= o.intervalMs) {
      this.backoff--;
      this.lastUnejectionMs = nowMs;
    }
    let reqs: u32 = 0, bad: u32 = 0, latN: u32 = 0;
    let latSum: f64 = 0;
    for (let i = 0; i < BUCKETS; i++) {
      reqs += this.counts[REQ + i];
      bad += this.counts[FAIL + i] + this.counts[LOCAL + i];
      latN += this.counts[LAT_N + i];
      latSum += this.counts[LAT_SUM + i];
    }
    const k = <f64>h.minRequests;
    const elapsed = this.lastScoreMs > 0 ? <f64>(nowMs - this.lastScoreMs) : 0;
    this.lastScoreMs = nowMs;
    const anchor = min<f64>(1, this.success + elapsed / o.baseEjectionMs);
    const success = (<f64>(reqs - bad) + k * anchor) / (<f64>reqs + k);
    this.success = success;
    let latencyPenalty: f64 = 0;
    const mean = latN > 0 ? latSum / <f64>latN : 0;
    if (latN >= <u32>h.minRequests && this.baselineMs > 0) {
      const ratio = mean / this.baselineMs;
      latencyPenalty = min<f64>(1, max<f64>(0, (ratio - h.latencyTolerance) / h.latencyTolerance));
    }
    // The baseline follows improvements at once and degradations slowly (time constant 10
    // windows), so a latency rise shows in the score for a while before it becomes normal.
    // Only time with enough samples teaches the baseline: an idle gap must not make it jump.
    if (latN >= <u32>h.minRequests) {
      if (this.baselineMs == 0 || mean < this.baselineMs) this.baselineMs = mean;
      else if (this.lastBaselineMs > 0) {
        const alpha = min<f64>(1, <f64>(nowMs - this.lastBaselineMs) / (10 * h.windowMs));
        this.baselineMs += (mean - this.baselineMs) * alpha;
      }
    }
    this.lastBaselineMs = nowMs;
    let target = this.ejected ? 0 : 100 * success * (1 - h.latencyWeight * latencyPenalty);
    target = Math.round(target * 100) / 100;
    const p = this.published;
    if (p < 0 || target <= p - h.hysteresis || target == 0) {
      this.published = target;
    } else if (target >= p + h.hysteresis || (target == 100 && p < 100)) {
      const rise = h.slowStartMs > 0 ? 100 * elapsed / h.slowStartMs : 100;
      this.published = min<f64>(target, Math.round((p + rise) * 100) / 100);
    }
  }

  /** Requests, failures and mean latency over the window (for the published plan). */
  windowRequests(): u32 {
    let n: u32 = 0;
    for (let i = 0; i < BUCKETS; i++) n += this.counts[REQ + i];
    return n;
  }
  windowFailures(): u32 {
    let n: u32 = 0;
    for (let i = 0; i < BUCKETS; i++) n += this.counts[FAIL + i] + this.counts[LOCAL + i];
    return n;
  }
  windowLatencyMs(): f64 {
    let n: u32 = 0;
    let s: f64 = 0;
    for (let i = 0; i < BUCKETS; i++) { n += this.counts[LAT_N + i]; s += this.counts[LAT_SUM + i]; }
    return n > 0 ? s / <f64>n : 0;
  }
}

/** Copies `size` bytes between the record at `at` and `mine`, either way; returns the next offset. */
function move(at: usize, mine: usize, size: usize, out: bool): usize {
  if (out) memory.copy(at, mine, size);
  else memory.copy(mine, at, size);
  return at + size;
}
