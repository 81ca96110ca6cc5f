// The host calls the failover module makes on a request's headers, counted by name around the
// real module (every import wrapped; the host answers as ever). Issue 13: each crossing costs, so
// the request path makes only the calls its headers need.
import { describe, expect, it } from "vitest";
import { Failover } from "./support/failover.js";

/** A Failover whose module's imports are counted by name while `counting` is on. */
function counted(policy: object) {
  const counts = new Map<string, number>();
  let counting = false;
  const Original = WebAssembly.Instance;
  WebAssembly.Instance = class extends Original {
    constructor(module: WebAssembly.Module, imports?: WebAssembly.Imports) {
      const wrapped: WebAssembly.Imports = {};
      for (const [ns, fns] of Object.entries(imports ?? {})) {
        wrapped[ns] = Object.fromEntries(Object.entries(fns).map(([name, f]) => [name, typeof f !== "function" ? f : (...args: unknown[]) => {
          if (counting) counts.set(name, (counts.get(name) ?? 0) + 1);
          return (f as (...a: unknown[]) => unknown)(...args);
        }]));
      }
      super(module, wrapped);
    }
  } as typeof WebAssembly.Instance;
  try {
    const f = new Failover(policy);
    /** The calls of `run`, by name. */
    const during = (run: () => void): Record<string, number> => {
      counts.clear();
      counting = true;
      try { run(); } finally { counting = false; }
      return Object.fromEntries(counts);
    };
    return { f, during };
  } finally {
    WebAssembly.Instance = Original;
  }
}

const clusters = ["a", "b"].map((name) => ({ name, hosts: ["h"] }));

describe("the request path's host calls", () => {
  it("reads the clock once for a request with an affinity cookie (the cookie's time is the request's)", () => {
    const { f, during } = counted({
      clusters, routes: [{ name: "h", match: { authority: "h" }, destination: { mode: "auto" }, affinity: { cookie: { name: "sess", secret: "correct horse battery staple" } } }],
    });
    const calls = during(() => f.request("h", [["cookie", "theme=dark; sess=0123456789abcdef0123456789abcdef"]]));
    expect(calls.proxy_get_current_time_nanoseconds).toBe(1);
    expect(calls.proxy_get_header_map_pairs).toBe(1); // the cookie lines, read once
  });

  it("makes one call per header it reads, sets or removes, one clock read and one per counter", () => {
    const { f, during } = counted({ clusters, routes: [{ name: "h", match: { authority: "h" }, destination: { mode: "auto" }, retry: { numRetries: 2 } }] });
    const calls = during(() => f.request("h"));
    expect(calls).toEqual({
      proxy_get_header_map_value: 2, // :authority, :path
      proxy_replace_header_map_value: 8, // the routing header, 5 explanation headers, retry-on, max retries
      proxy_remove_header_map_value: 3, // per-try timeout, retriable codes, retry-grpc-on: a client may have sent them
      proxy_get_current_time_nanoseconds: 1,
      proxy_increment_metric: 2, // decisions_total, the cluster's requests_total
    });
  });
});
