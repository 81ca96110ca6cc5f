// Envoy's per-host outlier detection state (DetectorHostMonitorImpl in
// source/common/upstream/outlier_detection_impl.cc; test/data/ENVOY-HOST-NOTES.md, "Endpoint
// health in the filter"), kept for a whole cluster (HealthRecord) and for each endpoint the filter
// has seen (the record's endpoint table). Fields are copied as they lie in memory: plain numbers
// only, the wider ones first.

import { OutlierSpec } from "../policy/model";

/** What happened to one upstream attempt. */
export enum Outcome { Success, Http5xx, Gateway5xx, LocalConnectFailure, LocalTimeout }

export class Monitor {
  ejectedUntilMs: i64 = 0; // 0: not ejected
  lastEjectionMs: i64 = 0;
  lastUnejectionMs: i64 = 0;
  lastSeenMs: i64 = 0; // when an attempt last named the endpoint (a cluster: its last refresh)
  consecutive5xx: u32 = 0;
  consecutiveGateway: u32 = 0;
  consecutiveLocal: u32 = 0;
  backoff: u32 = 0; // ejection time multiplier, as Envoy's
  ejections: u32 = 0; // lifetime count
  hash: u32 = 0; // endpoints: the address's hash, 0 for a free slot

  get ejected(): bool { return this.ejectedUntilMs != 0; }

  resetRuns(): void { this.consecutive5xx = 0; this.consecutiveGateway = 0; this.consecutiveLocal = 0; }

  /**
   * Adds `run` failures of one kind to the consecutive counters (a 5xx raises the 5xx run, a
   * gateway error also the gateway run, another 5xx resets that; a local-origin failure raises its
   * own run, or counts as the 503/504 Envoy maps it to without splitExternalLocalOriginErrors).
   * True when a rule fires.
   */
  failed(outcome: Outcome, run: u32, o: OutlierSpec): bool {
    const split = o.splitExternalLocalOriginErrors;
    const local = outcome >= Outcome.LocalConnectFailure;
    if (local && split) {
      this.consecutiveLocal += run;
      return o.consecutiveLocalOriginFailures > 0 && this.consecutiveLocal >= <u32>o.consecutiveLocalOriginFailures;
    }
    let trigger = false;
    if (outcome != Outcome.Http5xx) {
      this.consecutiveGateway += run;
      trigger = o.consecutiveGatewayErrors > 0 && this.consecutiveGateway >= <u32>o.consecutiveGatewayErrors;
    } else this.consecutiveGateway = 0;
    this.consecutive5xx += run;
    return trigger || (o.consecutive5xx > 0 && this.consecutive5xx >= <u32>o.consecutive5xx);
  }

  /** Envoy's ejectHost: the ejection time grows with consecutive ejections, capped at max. */
  eject(nowMs: i64, o: OutlierSpec): void {
    if (<f64>this.backoff * o.baseEjectionMs < o.maxEjectionMs + o.baseEjectionMs) this.backoff++;
    this.ejectedUntilMs = nowMs + <i64>min<f64>(o.baseEjectionMs * <f64>this.backoff, o.maxEjectionMs);
    this.lastEjectionMs = nowMs;
    this.ejections++;
    this.resetRuns();
  }

  uneject(nowMs: i64): void {
    this.ejectedUntilMs = 0;
    this.lastUnejectionMs = nowMs;
    this.resetRuns();
  }

  /**
   * Envoy's interval timer: re-admits when the ejection time is over (true then), and lowers the
   * multiplier by one per interval spent back and healthy (counted from when it was seen back).
   */
  age(nowMs: i64, o: OutlierSpec): bool {
    const back = this.ejected && nowMs >= this.ejectedUntilMs;
    if (back) this.uneject(nowMs);
    if (!this.ejected && this.backoff > 0 && this.lastUnejectionMs > 0 && this.lastSeenMs >= this.lastUnejectionMs &&
      <f64>(nowMs - this.lastUnejectionMs) >= o.intervalMs) {
      this.backoff--;
      this.lastUnejectionMs = nowMs;
    }
    return back;
  }
}

/** Bytes of a Monitor's fields. */
export const MONITOR_SIZE: usize = offsetof<Monitor>();
