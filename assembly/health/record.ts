// One cluster's health as all Envoy worker threads share it (proxy-wasm shared data, one key per
// cluster, written with compare-and-swap): a sliding window of outcome buckets, Envoy-style
// outlier detection counters and ejection state, a latency baseline, the published score, and a
// bounded table of the endpoints Envoy named (upstream.address), each with Envoy's per-host
// outlier state.
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
//   share    = endpoints not ejected / max(policy endpoints, endpoints in the table), where Envoy
//              names endpoints (Envoy's arithmetic counts hosts); else the success estimate
//   target   = 0 while ejected; otherwise 100 x share x (1 - latencyWeight x latency)
//   score    = follows the target when it is `hysteresis` points away or more (so a cluster
//              hovering at a threshold of Envoy's split does not flap): down at once (fast
//              failover), up by at most 100 points per slowStart (gradual failback, after an
//              ejection as after a brownout). A score of 100, or the endpoint share, is always reached.

import { HealthSpec, OutlierSpec } from "../policy/model";
import { MONITOR_SIZE, Monitor, Outcome } from "./monitor";

export { Outcome };

export const BUCKETS = 10;

/** Distinct failing sources remembered per outlier interval (health.outlierDetection.minSources at most). */
export const MAX_SOURCES = 7;

/**
 * Endpoints remembered per cluster (the most recently seen; the least recently seen healthy one
 * makes room). A cluster with more endpoints than this is still counted by the policy's
 * `endpoints`: the ones not in the table count as healthy.
 */
export const MAX_ENDPOINTS = 32;

const MAGIC: u32 = 0x46484c36; // "FHL6"
// Where each count's run of buckets starts in HealthRecord.counts.
const REQ = 0, FAIL = BUCKETS, LOCAL = 2 * BUCKETS, LAT_N = 3 * BUCKETS, LAT_SUM = 4 * BUCKETS;
/** Bytes of HealthRecord's own fields, the copied part (up to its first array). */
const FIELDS: usize = offsetof<HealthRecord>("sources");
/** 4 (magic) + the fields + sources + 10 buckets x 5 u32 (latency in whole ms) + the endpoint table. */
export const RECORD_SIZE = 4 + <i32>FIELDS + 4 * MAX_SOURCES + BUCKETS * 5 * 4 + MAX_ENDPOINTS * <i32>MONITOR_SIZE;

/** What `record` changed. */
export const ENDPOINT_EJECTED = 1, CLUSTER_EJECTED = 2;

export class HealthRecord extends Monitor {
  // The shared record is MAGIC, then these fields as they lie in memory (Monitor's first, up to
  // `sources`), then the arrays: read and written by copying (a field-by-field codec cost a
  // kilobyte of module).
  epoch: i64 = 0; // index of the newest bucket: floor(now / bucketMs)
  lastBaselineMs: i64 = 0;
  lastScoreMs: i64 = 0;
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
  /** The endpoints seen (upstream.address), each with Envoy's per-host outlier state. */
  endpoints: StaticArray<Monitor> = newEndpoints();
  // Not stored: what the last refresh counted in the endpoint table.
  seenEndpoints: i32 = 0;
  ejectedEndpoints: i32 = 0;

  clear(): void {
    memory.fill(changetype<usize>(this), 0, FIELDS);
    this.success = 1;
    this.published = -1;
    memory.fill(changetype<usize>(this.sources), 0, 4 * MAX_SOURCES);
    for (let i = 0; i < BUCKETS; i++) this.clearBucket(i);
    for (let i = 0; i < MAX_ENDPOINTS; i++) memory.fill(changetype<usize>(this.endpoints[i]), 0, MONITOR_SIZE);
  }

  clearBucket(i: i32): void {
    for (let k = i; k < 5 * BUCKETS; k += BUCKETS) this.counts[k] = 0;
  }

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
    at = move(at, changetype<usize>(this.counts), 4 * 5 * BUCKETS, out);
    for (let i = 0; i < MAX_ENDPOINTS; i++) at = move(at, changetype<usize>(this.endpoints[i]), MONITOR_SIZE, out);
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

  /** `n` successes with `latencyMs` in all (this worker's since its last merge, or one). */
  succeeded(n: u32, latencyMs: f64, nowMs: i64, h: HealthSpec): void {
    this.rotate(nowMs, h);
    const b = <i32>(this.epoch % BUCKETS);
    this.counts[REQ + b] += n;
    this.counts[LAT_N + b] += n;
    const sum = <u64>this.counts[LAT_SUM + b] + <u64>max<f64>(0, latencyMs);
    this.counts[LAT_SUM + b] = sum > 0xffffffff ? 0xffffffff : <u32>sum;
    if (this.ejected) {
      // Probes: enough successes in a row re-admit the cluster before its ejection ends.
      this.probeSuccesses += n;
      if (<i32>this.probeSuccesses >= h.probeSuccesses) this.uneject(nowMs);
    } else {
      this.resetRuns();
      this.heldRun = 0;
    }
  }

  /** A success at endpoint `hash` (0: none named): it is seen, and its runs end. */
  seen(hash: u32, nowMs: i64): void {
    if (hash != 0) this.endpoint(hash, nowMs).resetRuns();
  }

  /**
   * Records one failed attempt with Envoy's outlier-detection rules, at endpoint `hash` when
   * Envoy named it (0: not). A named endpoint's 5xx counts on that endpoint's runs (Envoy's
   * per-host rules), not the cluster's; a local-origin failure (connect failure, no healthy
   * upstream, timeout) also counts for the whole cluster, so a cluster where every attempt fails
   * that way goes out at once, and so does one whose endpoints are all ejected. Returns
   * ENDPOINT_EJECTED and/or CLUSTER_EJECTED (the caller decides whether max_ejection_percent
   * allows the cluster's, via `mayEject`).
   */
  record(outcome: Outcome, nowMs: i64, h: HealthSpec, mayEject: bool, source: u32, hash: u32, endpoints: i32): i32 {
    this.rotate(nowMs, h);
    const b = <i32>(this.epoch % BUCKETS);
    const o = h.outlier;
    const local = outcome >= Outcome.LocalConnectFailure;
    let run: u32 = 1;
    if (o.minSources > 1) {
      if (!this.failedFrom(source, nowMs, h)) return 0;
      // Enough sources: what was held counts now, in the window and in the run.
      this.counts[REQ + b] += this.heldFailures;
      this.counts[FAIL + b] += this.heldFailures;
      run += this.heldRun;
      this.heldFailures = 0;
      this.heldRun = 0;
    }
    this.counts[REQ + b]++;
    this.counts[(local ? LOCAL : FAIL) + b]++;
    let change = 0;
    let trigger = false;
    if (hash != 0) {
      const e = this.endpoint(hash, nowMs);
      if (!e.ejected && e.failed(outcome, run, o)) {
        // max_ejection_percent over the cluster's endpoints (ejectHost); when it allows none,
        // Envoy (always_eject_one_host off) ejects none and the run starts again.
        const total = <f64>max(endpoints, this.countEndpoints(nowMs, o));
        if (<f64>(this.ejectedEndpoints + 1) * 100 <= <f64>o.maxEjectionPercent * total) {
          e.eject(nowMs, o);
          change = ENDPOINT_EJECTED;
          trigger = <f64>(this.ejectedEndpoints + 1) >= total;
        } else e.resetRuns();
      }
    }
    if (this.ejected) {
      this.probeSuccesses = 0;
      return change;
    }
    if ((hash == 0 || local) && this.failed(outcome, run, o)) trigger = true;
    if (trigger && mayEject) {
      this.eject(nowMs, o);
      return change | CLUSTER_EJECTED;
    }
    // Refused by max_ejection_percent: Envoy resets the counter that fired.
    if (trigger) this.resetRuns();
    return change;
  }

  /** The table's slot of endpoint `hash`, seen now: its own, a free one, or the stalest healthy one's. */
  endpoint(hash: u32, nowMs: i64): Monitor {
    const table = this.endpoints;
    let slot = table[0];
    for (let i = 0; i < MAX_ENDPOINTS; i++) {
      const e = table[i];
      if (e.hash == hash) {
        // Seen back after its ejection: Envoy re-admitted it about now (its interval timer).
        if (e.lastUnejectionMs > e.lastSeenMs) e.lastUnejectionMs = nowMs;
        e.lastSeenMs = nowMs;
        return e;
      }
      // Free slots first, then healthy before ejected, then the least recently seen.
      if (rank(e) < rank(slot) || (rank(e) == rank(slot) && e.lastSeenMs < slot.lastSeenMs)) slot = e;
    }
    memory.fill(changetype<usize>(slot), 0, MONITOR_SIZE);
    slot.hash = hash;
    slot.lastSeenMs = nowMs;
    return slot;
  }

  /**
   * Endpoints in the table (setting ejectedEndpoints: those ejected, and for up to an outlier
   * interval those whose ejection ended but that Envoy has not named since while it named others:
   * Envoy's own ejection may last that much longer, as only its interval timer re-admits).
   */
  countEndpoints(nowMs: i64, o: OutlierSpec): i32 {
    let seen = 0, out = 0;
    let newest: i64 = 0;
    for (let i = 0; i < MAX_ENDPOINTS; i++) newest = max(newest, this.endpoints[i].lastSeenMs);
    for (let i = 0; i < MAX_ENDPOINTS; i++) {
      const e = this.endpoints[i];
      if (e.hash == 0) continue;
      seen++;
      const back = e.lastUnejectionMs;
      if (e.ejected || (back > e.lastSeenMs && newest > back && <f64>(nowMs - back) < o.intervalMs)) out++;
    }
    this.ejectedEndpoints = out;
    return seen;
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

  eject(nowMs: i64, o: OutlierSpec): void {
    super.eject(nowMs, o);
    this.probeSuccesses = 0;
    this.published = 0;
  }

  uneject(nowMs: i64): void {
    super.uneject(nowMs);
    this.probeSuccesses = 0;
  }

  /**
   * The periodic refresh (root tick): re-admission when the ejection time is over, backoff decay
   * while healthy (one step per outlier interval), the latency baseline, and the score.
   */
  refresh(nowMs: i64, h: HealthSpec, endpoints: i32): void {
    this.rotate(nowMs, h);
    const o = h.outlier;
    this.lastSeenMs = nowMs;
    this.age(nowMs, o);
    // Endpoints: Envoy's interval timer for each. One not named for a window (Envoy stopped
    // sending to it, or it left) is forgotten; once re-admitted, not before an outlier interval
    // more, as Envoy's own re-admission may come that much later.
    for (let i = 0; i < MAX_ENDPOINTS; i++) {
      const e = this.endpoints[i];
      if (e.hash == 0) continue;
      e.age(nowMs, o);
      if (!e.ejected && <f64>(nowMs - e.lastSeenMs) > h.windowMs && <f64>(nowMs - e.lastUnejectionMs) > h.windowMs + o.intervalMs) e.hash = 0;
    }
    const seen = this.countEndpoints(nowMs, o);
    this.seenEndpoints = seen;
    const total = max(endpoints, seen);
    // The share of the cluster's endpoints not ejected, where Envoy names them (as Envoy's own
    // arithmetic counts hosts); else the success rate estimates it.
    const endpointShare = <f64>(total - this.ejectedEndpoints) / <f64>total;
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
    const share = seen > 0 ? endpointShare : success;
    let target = this.ejected ? 0 : 100 * share * (1 - h.latencyWeight * latencyPenalty);
    target = Math.round(target * 100) / 100;
    const p = this.published;
    if (p < 0 || target <= p - h.hysteresis || target == 0) {
      this.published = target;
    } else if (target >= p + h.hysteresis || (target == Math.round(10000 * (seen > 0 ? endpointShare : 1)) / 100 && p < target)) {
      // The ramp goes all the way to a whole endpoint share (100 with all healthy, 10 of 14
      // healthy: 71.43), else it would stop a hysteresis short of it, below Envoy's count.
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

/** Order of preference for a slot to reuse: free, healthy, ejected. */
function rank(e: Monitor): i32 { return e.hash == 0 ? 0 : e.ejected ? 2 : 1; }

/** A table of empty endpoint slots. */
function newEndpoints(): StaticArray<Monitor> {
  const t = new StaticArray<Monitor>(MAX_ENDPOINTS);
  for (let i = 0; i < MAX_ENDPOINTS; i++) t[i] = new Monitor();
  return t;
}

/** Copies `size` bytes between the record at `at` and `mine`, either way; returns the next offset. */
function move(at: usize, mine: usize, size: usize, out: bool): usize {
  if (out) memory.copy(at, mine, size);
  else memory.copy(mine, at, size);
  return at + size;
}
