// Test support for the failover module: a VM with a controllable clock, one-call requests, and
// the plan the module publishes.
import { HttpStream, PluginVm, SharedData, type PropertyTree } from "../../extproc/host/index.js";
import { type PlanRoute, type PublishedPlan, readPlan } from "../../extproc/module/failover-module.js";
import { FAILOVER_WASM, LogLine, compiled } from "./wasm.js";

export const T0 = 1_700_000_000_000n; // ms

export class Failover {
  readonly vm: PluginVm;
  readonly logs: LogLine[] = [];
  nowMs: bigint;

  constructor(policy: object, options: { shared?: SharedData; startMs?: bigint; properties?: PropertyTree } = {}) {
    this.nowMs = options.startMs ?? T0;
    this.vm = new PluginVm(compiled(FAILOVER_WASM), {
      pluginConfig: JSON.stringify(policy),
      clock: () => this.nowMs * 1_000_000n,
      logger: (level, message) => this.logs.push({ level, message }),
      shared: options.shared,
      vmId: "failover",
      properties: options.properties,
    }).start();
  }

  plan(): PublishedPlan {
    return readPlan(this.vm);
  }

  route(name?: string): PlanRoute {
    const routes = this.plan().routes;
    const r = name ? routes.find((x) => x.name === name) : routes[0];
    if (!r) throw new Error(`no route ${name}`);
    return r;
  }

  /** Advances the clock, delivering every tick that falls due at the module's period. */
  advance(ms: number): void {
    const end = this.nowMs + BigInt(ms);
    const period = BigInt(this.vm.tickPeriodMs);
    if (period > 0n) {
      this.nextTick ??= this.nowMs + period;
      while (this.nextTick <= end) {
        this.nowMs = this.nextTick;
        this.vm.tick();
        this.nextTick += period;
      }
    }
    this.nowMs = end;
  }
  private nextTick: bigint | undefined;

  /** Sends request headers; returns the stream (request headers as the module left them). */
  request(authority: string, extra: [string, string][] = [], path = "/", properties: PropertyTree = {}): HttpStream {
    const s = this.vm.createStream(properties);
    const r = s.sendRequestHeaders([[":method", "GET"], [":path", path], [":authority", authority], [":scheme", "https"], ...extra], true);
    if (r.failure) throw r.failure;
    return s;
  }

  /** A whole exchange: request, response with `code`, log with Envoy's properties. */
  exchange(authority: string, code: number, opts: { flags?: number; attempts?: number; latencyMs?: number; extra?: [string, string][] } = {}): HttpStream {
    const s = this.request(authority, opts.extra);
    this.advance(opts.latencyMs ?? 0);
    const cluster = s.requestHeaders.get("x-failover-upstream");
    if (code > 0) s.sendResponseHeaders([[":status", String(code)]], true);
    const done = {
      response: { code, flags: opts.flags ?? 0 },
      upstream: { request_attempt_count: opts.attempts ?? 1 },
      ...(cluster ? { xds: { cluster_name: cluster } } : {}),
    };
    s.end(done);
    if (this.vm.failure) throw this.vm.failure;
    return s;
  }

  /** Share of each cluster over `n` requests (by x-failover-cluster). */
  sample(authority: string, n: number): Record<string, number> {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const c = this.exchange(authority, 200).requestHeaders.get("x-failover-cluster") ?? "none";
      counts[c] = (counts[c] ?? 0) + 1;
    }
    return counts;
  }
}

/** One cluster per priority level: P0 same zone, P1 same region other zone, P2 other region. */
export function laddered(levels: { hosts: number; healthy: number }[], health: object = {}, extra: object = {}) {
  const places = [["region-1", "zone-a"], ["region-1", "zone-b"], ["region-2", "zone-c"]];
  const clusters = levels.map((_, i) => ({
    name: `p${i}`, region: places[i][0], zone: places[i][1], hosts: ["svc.example.com"], endpoints: levels[i].hosts,
  }));
  const assume = Object.fromEntries(levels.map((l, i) => [`p${i}`, { healthy: l.healthy, total: l.hosts }]));
  return {
    locality: { region: "region-1", zone: "zone-a" },
    clusters,
    routes: [{ name: "svc", match: { authority: "svc.example.com" }, destination: { mode: "auto" } }],
    health,
    assume,
    ...extra,
  };
}
