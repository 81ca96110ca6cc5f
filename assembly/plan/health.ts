// Stage 2 of the decision: the health view. Per cluster, what Envoy's arithmetic needs (healthy
// and total hosts) and what the plan shows (score, ejection, window counts), read on every
// refresh from the cluster's record in shared data, so that every worker sees the same health;
// or taken from the policy's `assume`. Outcomes are added to the same records here.
// (Endpoint-level health, issue 15, belongs in this stage: it would set `healthy` and `total`.)

import { LogLevel, WasmResult, log, readSharedData, sharedCas, writeSharedData } from "../abi";
import { HealthRecord, Outcome, RECORD_SIZE } from "../health/record";
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

  constructor(spec: ClusterSpec) {
    this.spec = spec;
    this.key = "failover.health." + spec.name;
    this.total = <f64>spec.endpoints;
    this.healthy = this.total;
  }
}

/** What adding an outcome changed: nothing, or the cluster's ejection. */
export enum HealthChange { None, Ejected, Readmitted }

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
          this.record.refresh(nowMs, h);
          if (this.store(c, cas)) break;
        }
        const rec = this.record;
        c.score = rec.published < 0 ? 100 : rec.published;
        c.ejected = rec.ejected;
        c.ejections = rec.ejections;
        c.requests = rec.windowRequests();
        c.failures = rec.windowFailures();
        c.latencyMs = rec.windowLatencyMs();
        c.baselineMs = rec.baselineMs;
        c.total = <f64>c.spec.endpoints;
        c.healthy = c.ejected ? 0 : c.score / 100 * c.total;
      }
      if (c.ejected) ejected++;
    }
    this.ejectedCount = ejected;
  }

  /**
   * Adds one attempt's outcome to a measured cluster's shared record (compare-and-swap, retried,
   * so no count is lost to another worker).
   */
  add(index: i32, outcome: Outcome, latencyMs: f64, nowMs: i64, h: HealthSpec, source: u32): HealthChange {
    const c = this.clusters[index];
    if (c.assumed) return HealthChange.None;
    const others = <f64>this.ejectedCount + 1;
    const mayEject = others * 100 / <f64>this.clusters.length <= <f64>h.outlier.maxEjectionPercent;
    let ejected = false;
    let attempt = 0;
    for (; attempt < CAS_ATTEMPTS; attempt++) {
      const cas = this.load(c);
      ejected = this.record.record(outcome, latencyMs, nowMs, h, mayEject, source);
      if (this.store(c, cas)) break;
    }
    // Every attempt lost to another worker's write: the count is lost, but not silently.
    if (attempt == CAS_ATTEMPTS) log(LogLevel.Warn, "failover: outcome for " + c.spec.name + " dropped after 16 compare-and-swap conflicts");
    if (ejected) {
      log(LogLevel.Warn, "failover: ejected cluster " + c.spec.name + " until +" +
        ((this.record.ejectedUntilMs - nowMs) / 1000).toString() + "s (ejection " + itoa(this.record.ejections) + ")");
      return HealthChange.Ejected;
    }
    return c.ejected && !this.record.ejected ? HealthChange.Readmitted : HealthChange.None;
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
