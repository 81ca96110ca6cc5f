// The upstream clusters over simulated time: each inventory cluster answers with its base latency
// until the scenario's events change it, and `recover` restores it. This is the world behind
// Envoy, described by what one attempt meets on the wire; router.ts turns that into what Envoy's
// router does.

import type { DownMode, UpstreamEvent } from "../scenario.js";
import type { Random } from "./random.js";

/** What one attempt to a cluster meets. */
export type Wire =
  /** The Envoy cluster has no endpoints (e.g. the deployment or gateway behind it scaled to 0). */
  | { kind: "no-host" }
  /** The TCP connection is refused (e.g. the gateway's listener is gone). */
  | { kind: "connect-failure"; ms: number }
  /** An HTTP response arrives after `ms`. */
  | { kind: "response"; code: number; ms: number };

/** A refused connection comes back after about one round trip. */
const CONNECT_REFUSED_MS = 1;

interface State {
  down: DownMode | undefined;
  /** Share of the cluster's endpoints answering 503. */
  errorRate: number;
  latencyMs: number;
}

export class UpstreamModel {
  private readonly states = new Map<string, State>();
  private next = 0; // index of the first event not yet applied

  constructor(
    private readonly baseLatencyMs: ReadonlyMap<string, number>,
    private readonly events: readonly UpstreamEvent[], // sorted by time
  ) {
    for (const [cluster, latencyMs] of baseLatencyMs) this.states.set(cluster, { down: undefined, errorRate: 0, latencyMs });
  }

  /** Applies every event due at or before `ms`; time only moves forward. */
  advanceTo(ms: number): void {
    while (this.next < this.events.length && this.events[this.next].atMs <= ms) {
      const e = this.events[this.next++];
      const s = this.state(e.cluster);
      switch (e.kind) {
        case "down": s.down = e.mode; break;
        case "errorRate": s.errorRate = e.rate; break;
        case "latency": s.latencyMs = e.latencyMs; break;
        case "recover":
          s.down = undefined;
          s.errorRate = 0;
          s.latencyMs = this.baseLatencyMs.get(e.cluster) ?? s.latencyMs;
          break;
      }
    }
  }

  /** Whether the Envoy cluster has endpoints at all (an aggregate skips a cluster that has none). */
  hasHosts(cluster: string): boolean {
    return this.state(cluster).down !== "no-healthy-upstream";
  }

  /** One attempt to `cluster` now. */
  attempt(cluster: string, random: Random): Wire {
    const s = this.state(cluster);
    switch (s.down) {
      case "no-healthy-upstream": return { kind: "no-host" };
      case "connect-refused": return { kind: "connect-failure", ms: Math.min(CONNECT_REFUSED_MS, s.latencyMs) };
      case "http-503": return { kind: "response", code: 503, ms: s.latencyMs };
    }
    // Round robin over endpoints of which a share fails looks, per attempt, like a coin flip.
    const failed = s.errorRate > 0 && random.next() < s.errorRate;
    return { kind: "response", code: failed ? 503 : 200, ms: s.latencyMs };
  }

  private state(cluster: string): State {
    const s = this.states.get(cluster);
    if (!s) throw new Error(`no upstream model for cluster "${cluster}"`);
    return s;
  }
}
