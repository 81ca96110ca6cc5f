// Stats the module defines through proxy_define_metric. Envoy keeps one stat per name and type
// (its scope holds counters, gauges and histograms apart) for all worker threads, so a Metrics
// store may be shared by several PluginVm instances; each VM keeps its own id table (ids encode
// the type in their low two bits, as in Envoy). Counter and gauge values are unsigned 64-bit.

import { MetricType, WasmResult } from "./abi.js";

export interface Metric {
  name: string;
  type: MetricType;
  /** Counter total or gauge value (uint64, as Envoy's stats). */
  value: bigint;
  /** Histogram samples: count and sum, plus the most recent values for quantiles. */
  count: number;
  sum: number;
  recent: number[];
}

const RECENT_SAMPLES = 1024;

export class Metrics {
  private readonly byName = new Map<string, Metric>();

  /** The stat of this name and type, created on first use (the same name may exist per type). */
  obtain(name: string, type: MetricType): Metric {
    const key = `${type}:${name}`;
    let m = this.byName.get(key);
    if (!m) this.byName.set(key, (m = { name, type, value: 0n, count: 0, sum: 0, recent: [] }));
    return m;
  }

  /** The stat called `name`: of `type` when given, else the first defined. */
  get(name: string, type?: MetricType): Metric | undefined {
    if (type !== undefined) return this.byName.get(`${type}:${name}`);
    for (const t of [MetricType.Counter, MetricType.Gauge, MetricType.Histogram]) {
      const m = this.byName.get(`${t}:${name}`);
      if (m) return m;
    }
    return undefined;
  }

  all(): Metric[] { return [...this.byName.values()]; }

  /** Counter or gauge value by name (0n when undefined). */
  value(name: string, type?: MetricType): bigint { return this.get(name, type)?.value ?? 0n; }
}

const TYPE_MASK = 0x3;
const ID_INCREMENT = 0x4;

/** A VM's view of the store: the ids it handed out and the ABI rules for each call. */
export class MetricTable {
  private readonly ids = new Map<number, Metric>();
  private readonly next = [MetricType.Counter, MetricType.Gauge, MetricType.Histogram] as number[];

  constructor(private readonly store: Metrics) {}

  define(type: number, name: string): { result: WasmResult; id: number } {
    if (type < MetricType.Counter || type > MetricType.Histogram) return { result: WasmResult.BadArgument, id: 0 };
    const metric = this.store.obtain(name, type);
    this.next[type] += ID_INCREMENT;
    const id = this.next[type];
    this.ids.set(id, metric);
    return { result: WasmResult.Ok, id };
  }

  increment(id: number, offset: bigint): WasmResult {
    const type = id & TYPE_MASK;
    if (type >= MetricType.Histogram) return WasmResult.BadArgument;
    const m = this.ids.get(id);
    if (!m) return WasmResult.NotFound;
    if (type === MetricType.Counter) {
      if (offset <= 0n) return WasmResult.BadArgument; // counters only go up
      m.value = BigInt.asUintN(64, m.value + offset);
    } else {
      m.value = BigInt.asUintN(64, m.value + offset); // Gauge::sub below 0 wraps its uint64
    }
    return WasmResult.Ok;
  }

  record(id: number, value: bigint): WasmResult {
    const m = this.ids.get(id);
    if (!m) return WasmResult.NotFound;
    switch (id & TYPE_MASK) {
      case MetricType.Counter: m.value = BigInt.asUintN(64, m.value + value); break;
      case MetricType.Gauge: m.value = value; break;
      default: {
        const v = Number(value);
        m.count++;
        m.sum += v;
        if (m.recent.length >= RECENT_SAMPLES) m.recent.shift();
        m.recent.push(v);
      }
    }
    return WasmResult.Ok;
  }

  read(id: number): { result: WasmResult; value: bigint } {
    // Envoy answers by the id's type first: a histogram is never readable, defined or not.
    if ((id & TYPE_MASK) >= MetricType.Histogram) return { result: WasmResult.BadArgument, value: 0n };
    const m = this.ids.get(id);
    if (!m) return { result: WasmResult.NotFound, value: 0n };
    return { result: WasmResult.Ok, value: m.value };
  }
}
