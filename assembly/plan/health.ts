// Stage 2 of the decision: the health view. Per cluster, what Envoy's arithmetic needs (healthy
// and total hosts) and what the plan shows (score, ejection, window counts), read on every
// refresh from the cluster's record in shared data, so that every worker sees the same health;
// or taken from the policy's `assume`. Outcomes are added to the same records here.
// Where Envoy names the endpoint of each attempt (upstream.address), `healthy` and `total` count
// endpoints: healthy endpoints of max(the policy's `endpoints`, the endpoints seen); else they
// come from the success-rate score.
//
// Successes cost no shared-data call: each worker (Envoy runs one VM per worker thread) adds
// them up and merges them into the record on its next refresh (each tick, health.refreshInterval)
// or before its next failure, so its own outcomes keep their order. A failure is written at once
// (compare-and-swap), as it may eject an endpoint or the cluster: every worker sees an ejection by
// its next refresh, and a success another worker saw at most one refresh interval late.

import { LogLevel, WasmResult, log, readSharedData, sharedCas, writeSharedData } from "../abi";
import { CLUSTER_EJECTED, HealthRecord, MAX_ENDPOINTS, Outcome, RECORD_SIZE } from "../health/record";
import { Assume, AssumeKind, ClusterSpec, HealthSpec, Policy } from "../policy/model";
import { itoa } from "../text";

const CAS_ATTEMPTS = 16;

/** One cluster's health as of the last refresh. */
export class ClusterHealth {
  spec: ClusterSpec;
  /** Shared-data key of the health record. */
  key: string;
  score: f64 = 100;
  ejected: bool = false;
  assumed: bool = false;
  /** Healthy hosts for Envoy's arithmetic (fractional when it comes from a score). */
  healthy: f64 = 0;
  total: f64 = 1;
  ejections: u32 = 0;
  requests: u32 = 0;
  failures: u32 = 0;
  latencyMs: f64 = 0;
  baselineMs: f64 = 0;
  /** Endpoints in the table (0: Envoy names none, the success rate decides) and how many are ejected. */
  seenEndpoints: i32 = 0;
  ejectedEndpoints: i32 = 0;
  // This worker's successes not merged yet: how many, their latency, the endpoints they named.
  pending: u32 = 0;
  pendingMs: f64 = 0;
  pendingHashes: StaticArray<u32> = new StaticArray<u32>(MAX_ENDPOINTS);
  pendingCount: i32 = 0;

  constructor(spec: ClusterSpec) {
    this.spec = spec;
    this.key = "failover.health." + spec.name;
    this.total = <f64>spec.endpoints;
    this.healthy = this.total;
  }
}

/** What adding an outcome changed: nothing, the cluster's ejection or re-admission, an endpoint's ejection. */
export enum HealthChange { None, Ejected, Readmitted, EndpointEjected }

export class HealthView {
  clusters: Array<ClusterHealth> = [];
  ejectedCount: i32 = 0;
  private record: HealthRecord = new HealthRecord();
  private recordBuf: ArrayBuffer = new ArrayBuffer(RECORD_SIZE);

  /** Starts a view of a new policy's clusters (their records in shared data survive). */
  configure(p: Policy): void {
    this.clusters = [];
    for (let i = 0; i < p.clusters.length; i++) this.clusters.push(new ClusterHealth(p.clusters[i]));
  }

  /** Re-reads every cluster's record (ageing it: re-admission, the score's drift) or assumption. */
  refresh(nowMs: i64, h: HealthSpec): void {
    let ejected = 0;
    for (let i = 0; i < this.clusters.length; i++) {
      const c = this.clusters[i];
      const assumed = c.spec.assume;
      if (assumed !== null) {
        assume(c, assumed!);
      } else {
        for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
          const cas = this.load(c);
          this.merge(c, nowMs, h);
          this.record.refresh(nowMs, h, c.spec.endpoints);
          if (this.store(c, cas)) break;
        }
        c.pending = 0;
        c.pendingMs = 0;
        c.pendingCount = 0;
        const rec = this.record;
        c.score = rec.published < 0 ? 100 : rec.published;
        c.ejected = rec.ejected;
        c.ejections = rec.ejections;
        c.requests = rec.windowRequests();
        c.failures = rec.windowFailures();
        c.latencyMs = rec.windowLatencyMs();
        c.baselineMs = rec.baselineMs;
        c.seenEndpoints = rec.seenEndpoints;
        c.ejectedEndpoints = rec.ejectedEndpoints;
        c.total = <f64>max(c.spec.endpoints, rec.seenEndpoints);
        c.healthy = c.ejected ? 0 : c.score / 100 * c.total;
        // A score from endpoints is their share rounded to 0.01: Envoy's integer arithmetic
        // must see the whole count (5 of 14 is 50%, not 35.71% x 14 = 4.9994, 49%).
        if (rec.seenEndpoints > 0) c.healthy = min(c.total - <f64>rec.ejectedEndpoints, c.healthy + c.total / 20000);
      }
      if (c.ejected) ejected++;
    }
    this.ejectedCount = ejected;
  }

  /**
   * Adds one attempt's outcome, at endpoint `hash` (0: Envoy named none), to a measured cluster:
   * a success of a cluster in service to this worker's pending successes; anything else to the
   * shared record at once (compare-and-swap, retried, so no count is lost to another worker).
   */
  add(index: i32, outcome: Outcome, latencyMs: f64, nowMs: i64, h: HealthSpec, source: u32, hash: u32): HealthChange {
    const c = this.clusters[index];
    if (c.assumed) return HealthChange.None;
    if (outcome == Outcome.Success && !c.ejected) {
      c.pending++;
      c.pendingMs += latencyMs;
      const n = c.pendingCount;
      if (hash != 0 && n < MAX_ENDPOINTS && (n == 0 || c.pendingHashes[n - 1] != hash)) {
        let known = false;
        for (let i = 0; i < n; i++) known = known || c.pendingHashes[i] == hash;
        if (!known) c.pendingHashes[c.pendingCount++] = hash;
      }
      return HealthChange.None;
    }
    const others = <f64>this.ejectedCount + 1;
    const mayEject = others * 100 / <f64>this.clusters.length <= <f64>h.outlier.maxEjectionPercent;
    let change = 0;
    let attempt = 0;
    for (; attempt < CAS_ATTEMPTS; attempt++) {
      const cas = this.load(c);
      this.merge(c, nowMs, h);
      if (outcome == Outcome.Success) {
        this.record.succeeded(1, latencyMs, nowMs, h);
        this.record.seen(hash, nowMs);
      } else change = this.record.record(outcome, nowMs, h, mayEject, source, hash, c.spec.endpoints);
      if (this.store(c, cas)) break;
    }
    c.pending = 0;
    c.pendingMs = 0;
    c.pendingCount = 0;
    // Every attempt lost to another worker's write: the count is lost, but not silently.
    if (attempt == CAS_ATTEMPTS) log(LogLevel.Warn, "failover: outcome for " + c.spec.name + " dropped after 16 compare-and-swap conflicts");
    if (change & CLUSTER_EJECTED) {
      log(LogLevel.Warn, "failover: ejected cluster " + c.spec.name + " until +" +
        ((this.record.ejectedUntilMs - nowMs) / 1000).toString() + "s (ejection " + itoa(this.record.ejections) + ")");
      return HealthChange.Ejected;
    }
    if (change != 0) return HealthChange.EndpointEjected;
    return c.ejected && !this.record.ejected ? HealthChange.Readmitted : HealthChange.None;
  }

  /** Adds this worker's pending successes of `c` to the loaded record. */
  private merge(c: ClusterHealth, nowMs: i64, h: HealthSpec): void {
    if (c.pending == 0) return;
    this.record.succeeded(c.pending, c.pendingMs, nowMs, h);
    for (let i = 0; i < c.pendingCount; i++) this.record.seen(c.pendingHashes[i], nowMs);
  }

  /** Loads a cluster's record into `this.record`; returns the CAS token (0 when absent). */
  private load(c: ClusterHealth): u32 {
    const size = readSharedData(c.key, changetype<usize>(this.recordBuf), <usize>RECORD_SIZE);
    if (size < 0) {
      this.record.clear();
      return 0;
    }
    if (!this.record.decode(changetype<usize>(this.recordBuf), <usize>size)) {
      log(LogLevel.Warn, "failover: shared health record of " + c.spec.name + " has an unknown layout; starting afresh");
    }
    return sharedCas();
  }

  /** Writes `this.record` back; false only when another worker wrote since the load. */
  private store(c: ClusterHealth, cas: u32): bool {
    this.record.encode(changetype<usize>(this.recordBuf));
    const r = writeSharedData(c.key, changetype<usize>(this.recordBuf), <usize>RECORD_SIZE, cas);
    // Ok or CasMismatch: Envoy's host has no other answer to a shared-data write.
    return r != WasmResult.CasMismatch;
  }
}

function assume(c: ClusterHealth, a: Assume): void {
  c.assumed = true;
  c.total = <f64>c.spec.endpoints;
  c.ejected = a.kind == AssumeKind.Ejected;
  if (a.kind == AssumeKind.Counts) {
    c.total = <f64>a.total;
    c.healthy = a.healthy;
    c.score = Math.round(a.healthy / <f64>a.total * 10000) / 100;
  } else if (a.kind == AssumeKind.Score) {
    c.score = a.score;
    c.healthy = a.score / 100 * c.total;
  } else {
    c.score = 0;
    c.healthy = 0;
  }
}
