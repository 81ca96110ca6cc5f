// What a simulation shows: a timeline per interval (requests, share per cluster by the first
// attempt, client-visible errors, retries) and, per failure event, how the traffic reacted:
// - expected share: what Envoy's rule gives the cluster for its healthy endpoints (expected.ts);
// - settled time: from the event until the cluster's share stays within 5 points of the expected
//   share (until the next event of any cluster), and the client-visible errors until then;
// - split settled: the same for the module's own split (the `split=` of its decision on each
//   request), which the observed share samples: a split of 50/50 observed over 200 requests
//   varies by 3.5 points (one standard deviation), so at 100 requests a second the observed share
//   leaves the 5 points now and then however exactly the module splits;
// - failover time, only where the rule gives the cluster nothing (expected share below 5%): from
//   the event until the failed cluster's share stays below 5%;
// - failback time: from its recovery until its share is back within 5 points of the share it had
//   before the failure (measured until the next event of any cluster);
// - flapping: after recovery, its share crossed half its pre-failure share more than twice; a
//   crossing must go from below 40% to above 60% of that share (or back), so that sampling noise
//   around the midpoint of a steady ramp does not count.
// Shares over time are measured on sliding windows of one interval's worth of requests, and at
// least 200 so that a few probe requests (1% each) cannot lift a window over 5% by chance; the
// times have the resolution of one request, not of one timeline row.

import type { SimulateCase, UpstreamEvent } from "../scenario.js";
import { Expectation, isFailureEvent } from "./expected.js";
import type { ModuleLogLine, RequestRecord } from "./run.js";

const FAILED_BELOW = 5; // percent
const BACK_WITHIN = 5; // percentage points
const MAX_CROSSINGS = 2;
const CROSS_LOW = 0.4; // of the pre-failure share
const CROSS_HIGH = 0.6;
const BEFORE_INTERVALS = 5;
const MIN_WINDOW = 200; // requests

export interface TimelineRow {
  /** Start of the interval, in seconds of simulated time. */
  at: number;
  requests: number;
  /** Percent of the interval's requests whose first attempt went to each cluster. */
  share: Record<string, number>;
  /** Requests Envoy could not route (no routing header, or an unknown cluster). */
  unrouted: number;
  /** Client-visible errors: the final response was a 5xx. */
  errors: number;
  retries: number;
  /** Requests the module sent to an ejected cluster to notice its recovery (reason "probe"). */
  probes: number;
  /** Events that happened in this interval. */
  events: string[];
}

export interface EventOutcome {
  at: number;
  cluster: string;
  event: string;
  note?: string;
  /** The cluster's share over the five intervals before the event (or since its previous event). */
  shareBefore: number | undefined;
  /** Healthy endpoints of the cluster's endpoints after the event; null for a latency event. */
  healthy: { healthy: number; total: number } | null;
  /** The share Envoy's rule gives the cluster for those healthy endpoints (the module's plan); null if not known. */
  expectedShare: number | null;
  /**
   * Seconds until its share stayed within 5 points of the expected share, until the next event
   * of any cluster (or the end); null if it never did (or nothing is expected).
   */
  settled: number | null;
  /** Seconds until every decision of the module gave the cluster a split within 5 points of the expected share, until the next event; null if never (or nothing is expected). */
  splitSettled: number | null;
  /** Client-visible errors from the event until it settled (until the next event if it never did). */
  errorsUntilSettled: number;
  /** Seconds from the event to its last client-visible error before the next event; null if none. */
  lastError: number | null;
  /**
   * Seconds until its share stayed below 5%; null if it never did, had no share to lose, failed
   * for less than one window of requests, or the rule does not give it nothing (expected share 5% or more).
   */
  failover: number | null;
  /** Client-visible errors from the event until recovery (or the end). */
  errors: number;
  recoveredAt: number | null;
  /** Seconds from recovery until its share was back within 5 points; null if it never was (or never failed over). */
  failback: number | null;
  flapping: boolean;
}

export interface SimulationReport {
  scenario: string;
  case: string;
  description: string;
  seed: number;
  timeline: TimelineRow[];
  events: EventOutcome[];
  totals: {
    requests: number; errors: number; retries: number; unrouted: number; probes: number;
    /**
     * Requests whose first attempt went to another cluster than the module chose: an aggregate
     * cluster skips a child that has no endpoints, and the module cannot see that.
     */
    rerouted: number;
  };
  moduleLog: ModuleLogLine[];
}

const isError = (r: RequestRecord) => r.code >= 500;
const retriesOf = (r: RequestRecord) => Math.max(0, r.attempts - 1);
const round2 = (n: number) => Math.round(n * 100) / 100;
const seconds = (ms: number) => round2(ms / 1000);

export function describeEvent(e: UpstreamEvent): string {
  switch (e.kind) {
    case "down": return `${e.cluster} down (${e.mode})`;
    case "errorRate": return `${e.cluster} ${round2(e.rate * 100)}% of endpoints failing`;
    case "latency": return `${e.cluster} latency ${e.latencyMs}ms`;
    case "recover": return `${e.cluster} recovers`;
  }
}

export function timeline(c: SimulateCase, records: readonly RequestRecord[]): TimelineRow[] {
  const { intervalMs, durationMs } = c.traffic;
  const rows: TimelineRow[] = [];
  for (let start = 0; start < durationMs; start += intervalMs) {
    rows.push({ at: seconds(start), requests: 0, share: Object.fromEntries(c.clusters.map((n) => [n, 0])), unrouted: 0, errors: 0, retries: 0, probes: 0, events: [] });
  }
  const row = (ms: number) => rows[Math.min(rows.length - 1, Math.floor(ms / intervalMs))];
  for (const r of records) {
    const w = row(r.arrivalMs);
    w.requests++;
    if (r.first === undefined) w.unrouted++;
    else w.share[r.first]++;
    if (isError(r)) w.errors++;
    if (r.reason === "probe") w.probes++;
    w.retries += retriesOf(r);
  }
  for (const w of rows) for (const n of Object.keys(w.share)) w.share[n] = w.requests ? round2((100 * w.share[n]) / w.requests) : 0;
  for (const e of c.events) if (e.atMs < durationMs) row(e.atMs).events.push(describeEvent(e));
  return rows;
}

export function eventOutcomes(
  c: SimulateCase, records: readonly RequestRecord[], expected: ReadonlyMap<UpstreamEvent, Expectation> = new Map(),
): EventOutcome[] {
  const window = Math.max(MIN_WINDOW, Math.round((c.traffic.rate * c.traffic.intervalMs) / 1000));
  const end = c.traffic.durationMs;
  const firstAt = (ms: number) => {
    let lo = 0;
    let hi = records.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (records[mid].arrivalMs < ms) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return c.events.filter(isFailureEvent).map((e) => {
    const cluster = e.cluster;
    // prefix[i]: requests among the first i whose first attempt went to the cluster.
    const prefix = [0];
    for (const r of records) prefix.push(prefix[prefix.length - 1] + (r.first === cluster ? 1 : 0));
    /** Percent of requests [from, to) that went to the cluster. */
    const share = (from: number, to: number) => (to > from ? (100 * (prefix[to] - prefix[from])) / (to - from) : 0);
    /** The cluster's share in the window of requests that starts at request i. */
    const win = (i: number) => share(i, i + window);

    const start = firstAt(e.atMs);
    const recovery = c.events.find((x) => x.cluster === cluster && x.kind === "recover" && x.atMs > e.atMs);
    const stop = firstAt(recovery?.atMs ?? end);
    // Its share before: over up to five intervals, since the last event on the cluster if later.
    const previous = c.events.filter((x) => x.cluster === cluster && x.atMs < e.atMs).pop();
    const before = firstAt(Math.max(e.atMs - BEFORE_INTERVALS * c.traffic.intervalMs, previous?.atMs ?? 0));
    const shareBefore = start > before ? round2(share(before, start)) : undefined;

    const expectation = expected.get(e);
    const expectedShare = expectation ? expectation.share : null;
    // Until the next event anywhere: after it, the split to reach is another.
    const nextAny = c.events.find((x) => x.atMs > e.atMs);
    const spanEnd = firstAt(nextAny?.atMs ?? end);
    let settled: number | null = null;
    if (expectedShare !== null) {
      // The earliest request from which every full window until the next event stays within 5 points.
      for (let i = spanEnd - window; i >= start && Math.abs(win(i) - expectedShare) <= BACK_WITHIN; i--) {
        settled = seconds(records[i].arrivalMs - e.atMs);
      }
    }
    let splitSettled: number | null = null;
    if (expectedShare !== null) {
      for (let i = spanEnd - 1; i >= start; i--) {
        const decided = records[i].split?.[cluster];
        if (decided === undefined || Math.abs(decided - expectedShare) > BACK_WITHIN) break;
        splitSettled = seconds(records[i].arrivalMs - e.atMs);
      }
    }
    const settledAt = settled === null ? spanEnd : firstAt(e.atMs + settled * 1000);
    const errorsUntilSettled = records.slice(start, settledAt).filter(isError).length;
    let lastError: number | null = null;
    for (let i = spanEnd - 1; i >= start && lastError === null; i--) if (isError(records[i])) lastError = seconds(records[i].arrivalMs - e.atMs);

    let failover: number | null = null;
    const toNothing = expectedShare === null || expectedShare < FAILED_BELOW;
    if (toNothing && shareBefore !== undefined && shareBefore >= FAILED_BELOW) {
      // The earliest request from which every full window until recovery stays below 5%.
      for (let i = stop - window; i >= start && win(i) < FAILED_BELOW; i--) failover = seconds(records[i].arrivalMs - e.atMs);
    }
    const errors = records.slice(start, stop).filter(isError).length;

    let failback: number | null = null;
    let flapping = false;
    if (recovery && shareBefore !== undefined && failover !== null) {
      // Until the next event anywhere: after it, the share to come back to is another.
      const next = c.events.find((x) => x.atMs > recovery.atMs);
      const last = firstAt(next?.atMs ?? end) - window; // the last full window after recovery
      for (let i = stop; i <= last && failback === null; i++) {
        if (Math.abs(win(i) - shareBefore) <= BACK_WITHIN) failback = seconds(records[i].arrivalMs - recovery.atMs);
      }
      // Crossings of half the pre-failure share, from one window to the next.
      let crossings = 0;
      let above: boolean | undefined;
      for (let i = stop; i <= last; i += window) {
        const w = win(i);
        const state = w > shareBefore * CROSS_HIGH ? true : w < shareBefore * CROSS_LOW ? false : above;
        if (above !== undefined && state !== above) crossings++;
        above = state;
      }
      flapping = crossings > MAX_CROSSINGS;
    }
    return {
      at: seconds(e.atMs), cluster, event: describeEvent(e), note: e.note, shareBefore,
      healthy: expectation ? { healthy: expectation.healthy, total: expectation.total } : null,
      expectedShare, settled, splitSettled, errorsUntilSettled, lastError, failover, errors,
      recoveredAt: recovery ? seconds(recovery.atMs) : null, failback, flapping,
    };
  });
}

export function report(
  c: SimulateCase, seed: number, records: readonly RequestRecord[], moduleLog: ModuleLogLine[],
  expected: ReadonlyMap<UpstreamEvent, Expectation> = new Map(),
): SimulationReport {
  return {
    scenario: c.scenario, case: c.name, description: c.description, seed,
    timeline: timeline(c, records),
    events: eventOutcomes(c, records, expected),
    totals: {
      requests: records.length,
      errors: records.filter(isError).length,
      retries: records.reduce((n, r) => n + retriesOf(r), 0),
      unrouted: records.filter((r) => r.first === undefined).length,
      probes: records.filter((r) => r.reason === "probe").length,
      rerouted: records.filter((r) => r.first !== undefined && r.chosen !== undefined && r.first !== r.chosen).length,
    },
    moduleLog,
  };
}
