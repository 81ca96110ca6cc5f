// Envoy's host-level outlier detection for one cluster (cluster.outlier_detection), as the
// simulator needs it: consecutive 5xx, consecutive gateway failures and consecutive local-origin
// failures eject a host at once; the interval timer un-ejects hosts whose ejection time is over and
// shortens the ejection time of hosts that stayed healthy. Success-rate and failure-percentage
// ejection are not modelled (a scenario cannot ask for them).
//
// Each rule follows envoyproxy/envoy source/common/upstream/outlier_detection_impl.{h,cc} @
// 00c7146d95ff67fc55c78f036d6236689b66e72f (test/data/ENVOY-HOST-NOTES.md, "Host-level outlier
// detection"), with the result each router event reports (source/common/router/router.cc,
// upstream_request.cc).

import type { Random } from "./random.js";

/** Envoy's OutlierDetection fields the simulator models, with Envoy's defaults (DetectorConfig). */
export interface OutlierConfig {
  intervalMs: number;
  baseEjectionTimeMs: number;
  /** Default: the larger of 300 s and the base ejection time. */
  maxEjectionTimeMs: number;
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  consecutiveLocalOriginFailure: number;
  /** Percent chance that a detected ejection is enforced (runtime featureEnabled). */
  enforcingConsecutive5xx: number;
  enforcingConsecutiveGatewayFailure: number;
  enforcingConsecutiveLocalOriginFailure: number;
  maxEjectionPercent: number;
  alwaysEjectOneHost: boolean;
  splitExternalLocalOriginErrors: boolean;
}

export const OUTLIER_DEFAULTS: Omit<OutlierConfig, "maxEjectionTimeMs"> = {
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  consecutiveLocalOriginFailure: 5,
  enforcingConsecutive5xx: 100,
  enforcingConsecutiveGatewayFailure: 0,
  enforcingConsecutiveLocalOriginFailure: 100,
  maxEjectionPercent: 10,
  alwaysEjectOneHost: false,
  splitExternalLocalOriginErrors: false,
};
/** DEFAULT_MAX_EJECTION_TIME_MS = 10 x the default base ejection time. */
export const DEFAULT_MAX_EJECTION_TIME_MS = 300_000;

/** What the router reports to a host's monitor. */
export type HostResult =
  /** Response headers arrived (Filter::onUpstreamHeaders: putHttpResponseCode). */
  | { kind: "http"; code: number }
  /** The connection pool gave a connection (UpstreamRequest::onPoolReady: LocalOriginConnectSuccess). */
  | { kind: "connect-success" }
  /** The connection failed (Filter::onUpstreamReset: LocalOriginConnectFailed). */
  | { kind: "connect-failed" }
  /** The per-try timeout fired (Filter::onPerTryTimeout: LocalOriginTimeout with code 504). */
  | { kind: "timeout" };

type EjectionType = "consecutive-5xx" | "consecutive-gateway-failure" | "consecutive-local-origin-failure";

interface HostMonitor {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocalOrigin: number;
  ejected: boolean;
  /** ejectTimeBackoff: the ejection time is base x this (capped at max). */
  backoff: number;
  ejections: number;
  lastEjectionMs: number;
  lastUnejectionMs: number | undefined;
}

export interface EjectionEvent {
  atMs: number;
  host: number;
  action: "eject" | "uneject";
  type?: EjectionType;
}

const isGatewayError = (code: number) => code >= 502 && code <= 504;

export class OutlierDetector {
  private readonly hosts: HostMonitor[];
  private active = 0;
  /** The interval timer is armed when the detector starts (DetectorImpl::initialize). */
  private nextIntervalMs: number;
  readonly log: EjectionEvent[] = [];

  constructor(readonly config: OutlierConfig, hostCount: number, private readonly random: Random, startMs: number) {
    this.hosts = new Array<HostMonitor>(hostCount);
    this.resetHosts();
    this.nextIntervalMs = startMs + config.intervalMs;
  }

  /**
   * The hosts left the cluster and came back (a deployment scaled to 0 and up): Envoy drops their
   * monitors and makes new ones (the member update callback); the interval timer runs on.
   */
  resetHosts(): void {
    for (let h = 0; h < this.hosts.length; h++) {
      this.hosts[h] = {
        consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocalOrigin: 0, ejected: false, backoff: 0, ejections: 0,
        lastEjectionMs: 0, lastUnejectionMs: undefined,
      };
    }
    this.active = 0;
  }

  isEjected(host: number): boolean {
    return this.hosts[host].ejected;
  }

  ejectedCount(): number {
    return this.active;
  }

  /** Runs every interval timer due at or before `ms`. */
  advanceTo(ms: number): void {
    while (this.nextIntervalMs <= ms) {
      this.onInterval(this.nextIntervalMs);
      this.nextIntervalMs += this.config.intervalMs;
    }
  }

  /**
   * DetectorHostMonitorImpl::putResult / putHttpResponseCode. Without the split every result is an
   * HTTP code (resultToHttpCode: connect failure 503, timeout the router's 504, a connect success
   * none); with it, local-origin results go to their own counter.
   */
  put(host: number, result: HostResult, nowMs: number): void {
    this.advanceTo(nowMs);
    if (result.kind === "http") return this.putHttpCode(host, result.code, nowMs);
    if (!this.config.splitExternalLocalOriginErrors) {
      if (result.kind === "connect-failed") this.putHttpCode(host, 503, nowMs);
      else if (result.kind === "timeout") this.putHttpCode(host, 504, nowMs);
      return;
    }
    const m = this.hosts[host];
    if (result.kind === "connect-success") {
      m.consecutiveLocalOrigin = 0;
      return;
    }
    if (++m.consecutiveLocalOrigin === this.config.consecutiveLocalOriginFailure) {
      this.onConsecutiveError(host, "consecutive-local-origin-failure", nowMs);
    }
  }

  private putHttpCode(host: number, code: number, nowMs: number): void {
    const m = this.hosts[host];
    if (code >= 500 && code <= 599) {
      // The gateway counter first, then the 5xx one; each fires once, when it reaches its threshold.
      if (isGatewayError(code)) {
        if (++m.consecutiveGateway === this.config.consecutiveGatewayFailure) this.onConsecutiveError(host, "consecutive-gateway-failure", nowMs);
      } else m.consecutiveGateway = 0;
      if (++m.consecutive5xx === this.config.consecutive5xx) this.onConsecutiveError(host, "consecutive-5xx", nowMs);
    } else {
      m.consecutive5xx = 0;
      m.consecutiveGateway = 0;
    }
  }

  /**
   * onConsecutiveErrorWorker (posted to the main thread; here at once): an ejected host stays as
   * it is; otherwise ejectHost, then the counter that fired starts again.
   */
  private onConsecutiveError(host: number, type: EjectionType, nowMs: number): void {
    const m = this.hosts[host];
    if (m.ejected) return;
    this.ejectHost(host, type, nowMs);
    if (type === "consecutive-5xx") m.consecutive5xx = 0;
    else if (type === "consecutive-gateway-failure") m.consecutiveGateway = 0;
    else m.consecutiveLocalOrigin = 0;
  }

  /**
   * DetectorImpl::ejectHost: only while (ejected + 1) / hosts stays within max_ejection_percent
   * (or none is ejected and always_eject_one_host is set), and only if the type's enforcing
   * percentage draws it. Each ejection lengthens the next one (ejectTimeBackoff, bounded).
   */
  private ejectHost(host: number, type: EjectionType, nowMs: number): void {
    const c = this.config;
    const maxPercent = Math.min(100, c.maxEjectionPercent);
    let shouldEject = (100 * (this.active + 1)) / this.hosts.length <= maxPercent;
    if (c.alwaysEjectOneHost) shouldEject = this.active === 0 || shouldEject;
    if (!shouldEject || !this.enforced(type)) return;
    const m = this.hosts[host];
    this.active++;
    m.ejected = true;
    m.ejections++;
    m.lastEjectionMs = nowMs;
    if (m.backoff * c.baseEjectionTimeMs < c.maxEjectionTimeMs + c.baseEjectionTimeMs) m.backoff++;
    this.log.push({ atMs: nowMs, host, action: "eject", type });
  }

  /** enforceEjection: runtime featureEnabled(key, percent), a draw below the percentage. */
  private enforced(type: EjectionType): boolean {
    const c = this.config;
    const percent = type === "consecutive-5xx" ? c.enforcingConsecutive5xx
      : type === "consecutive-gateway-failure" ? c.enforcingConsecutiveGatewayFailure
      : c.enforcingConsecutiveLocalOriginFailure;
    if (percent >= 100) return true;
    if (percent <= 0) return false;
    return this.random.below(100) < percent;
  }

  /**
   * onIntervalTimer: un-eject each host whose min(base x backoff, max) has passed since its
   * ejection (checkHostForUneject; the jitter is 0 by default), then count down the backoff of
   * each host that has been back for at least one interval.
   */
  private onInterval(nowMs: number): void {
    const c = this.config;
    this.hosts.forEach((m, host) => {
      if (!m.ejected) return;
      if (Math.min(c.baseEjectionTimeMs * m.backoff, c.maxEjectionTimeMs) <= nowMs - m.lastEjectionMs) {
        this.active--;
        m.ejected = false;
        // unejectHost resets every consecutive counter.
        m.consecutive5xx = 0;
        m.consecutiveGateway = 0;
        m.consecutiveLocalOrigin = 0;
        m.lastUnejectionMs = nowMs;
        this.log.push({ atMs: nowMs, host, action: "uneject" });
      }
    });
    for (const m of this.hosts) {
      if (!m.ejected && m.lastUnejectionMs !== undefined && nowMs - m.lastUnejectionMs >= c.intervalMs && m.backoff > 0) m.backoff--;
    }
  }
}
