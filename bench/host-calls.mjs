// Host calls per request, by kind and by Envoy step, for one typical request (20 request headers,
// 3 response headers, log phase) after a warm-up. Every function the VM imports is wrapped with a
// counter while the VM is instantiated: the host itself is not changed, and a call the module
// makes is counted whichever host function answers it.
import { FLOOR, VARIANTS, request } from "./filter.mjs";
import { record } from "./lib.mjs";

/** Runs `make` (which starts a PluginVm) with every import of the instance it creates counted. */
export function countingHostCalls(make) {
  const counts = new Map();
  const Original = WebAssembly.Instance;
  const counted = (name, f) => (...args) => {
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return f(...args);
  };
  WebAssembly.Instance = class extends Original {
    constructor(module, imports) {
      const wrapped = {};
      for (const [ns, fns] of Object.entries(imports ?? {})) {
        wrapped[ns] = Object.fromEntries(Object.entries(fns).map(([name, f]) => [name, typeof f === "function" ? counted(name, f) : f]));
      }
      super(module, wrapped);
    }
  };
  try {
    return { vm: make(), counts };
  } finally {
    WebAssembly.Instance = Original;
  }
}

/** The host calls of one request after `warmup` others: { total, byKind, byPhase }. */
export function countOne(make, warmup = 100) {
  const { vm, counts } = countingHostCalls(make);
  for (let i = 0; i < warmup; i++) request(vm);
  counts.clear();
  const byPhase = {};
  let seen = 0;
  request(vm, undefined, (phase) => {
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    byPhase[phase] = total - seen;
    seen = total;
  });
  const byKind = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
  return { total: seen, byKind, byPhase };
}

const MODULES = [FLOOR, "one-header module", "failover, 4 clusters"];

export function run() {
  const suite = "host calls per request";
  const out = {};
  for (const [name, make] of VARIANTS.filter(([n]) => MODULES.includes(n))) {
    const c = countOne(make);
    out[name] = c;
    record(suite, `${name}: total`, c.total, "calls");
    process.stderr.write(`  ${name}: ${c.total} host calls (${Object.entries(c.byPhase).map(([p, n]) => `${p} ${n}`).join(", ")})\n`);
    for (const [kind, n] of Object.entries(c.byKind)) {
      if (name.startsWith("failover")) record(suite, `${name}: ${kind}`, n, "calls");
      process.stderr.write(`    ${kind}: ${n}\n`);
    }
  }
  return out;
}
