// The watched policy file under operator mistakes (issue 11, items 3, 4, 5 and 9): half-written
// and slowly written files, the Kubernetes ConfigMap symlink swap, a failed reload made visible,
// SIGHUP, and the process's errors for a port in use and a bad argument.
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readPolicy } from "../extproc/sidecar/command.js";
import type { Sidecar } from "../extproc/sidecar/server.js";
import { EnvoyLikeClient, type Headers } from "./support/extproc-client.js";
import { ServeProcess } from "./support/serve-process.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { eventually } from "./support/wait.js";
import { root } from "./support/wasm.js";

const request: Headers = [[":method", "GET"], [":path", "/"], [":authority", "svc.example.com"], [":scheme", "http"]];
const ok: Headers = [[":status", "200"]];
const CLUSTERS = `clusters:
  - name: cluster-1
    region: region-1
    hosts: [svc.example.com]
  - name: cluster-2
    region: region-2
    hosts: [svc.example.com]
`;
const route = (name: string) => `routes:
  - name: ${name}
    match:
      authority: svc.example.com
    destination:
      mode: auto
`;
/** The new policy: route v2, with cluster-1 drained. Cut before `assume:` it is valid, and wrong. */
const V2_CUT = CLUSTERS + route("v2");
const V2 = V2_CUT + `assume:
  cluster-1:
    ejected: true
`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const start = sidecarHarness({ policy: "{}", adminPort: 0, drainMs: 200, locality: { region: "region-1" } });

function policyFile(text = CLUSTERS + route("v1")) {
  const dir = mkdtempSync(join(tmpdir(), "failover-reload-"));
  const file = join(dir, "policy.yaml");
  writeFileSync(file, text);
  return { dir, file };
}
/** The route and cluster a request gets. */
async function decision(s: Sidecar) {
  const c = new EnvoyLikeClient(s.port);
  try {
    const { upstreamRequest } = await c.exchange(request, ok);
    return upstreamRequest?.find(([k]) => k === "x-failover-decision")?.[1]?.match(/^route=(\S+) cluster=(\S+)/)?.slice(1, 3);
  } finally {
    c.close();
  }
}
const admin = async (s: Sidecar, path: string) => {
  const res = await fetch(`http://127.0.0.1:${s.adminPort}${path}`);
  return { status: res.status, text: await res.text() };
};
const watched = (file: string, extra: { settleMs?: number } = {}) =>
  start({ policy: readPolicy(file), policyFile: file, readPolicy, watchIntervalMs: 50, settleMs: 2000, ...extra });
const reloads = (lines: { msg: string; fields?: Record<string, unknown> }[]) => lines.filter((l) => l.msg === "policy reloaded");
const refusals = (lines: { msg: string }[]) => lines.filter((l) => /rejected|unreadable/.test(l.msg));

describe("half-written policy files (item 3)", () => {
  it("does not adopt a file cut just before its assume: block while the writer is still at it", async () => {
    const { file } = policyFile();
    const { sidecar, logger } = await watched(file);
    expect(await decision(sidecar)).toEqual(["v1", "cluster-1"]);
    const fd = openSync(file, "w");
    writeSync(fd, V2_CUT); // valid YAML and a valid policy: only the drain is missing
    await sleep(400);
    writeSync(fd, V2.slice(V2_CUT.length));
    closeSync(fd);
    await eventually(() => reloads(logger.lines).length > 0, 10_000, "the finished file adopted");
    await sleep(2200); // nothing else will be adopted
    expect(reloads(logger.lines).map((l) => l.fields?.sha256)).toEqual([sha256(V2)]);
    expect(refusals(logger.lines)).toEqual([]);
    expect(await decision(sidecar)).toEqual(["v2", "cluster-2"]);
  });

  it("waits for a file written slowly, line by line over 3 s, and adopts only the whole", async () => {
    const { file } = policyFile();
    const { sidecar, logger } = await watched(file);
    const lines = V2.split(/(?<=\n)/);
    const fd = openSync(file, "w");
    const pause = 3000 / lines.length;
    for (const line of lines) {
      writeSync(fd, line);
      await sleep(pause);
    }
    closeSync(fd);
    await eventually(() => reloads(logger.lines).length > 0, 10_000, "the finished file adopted");
    expect(reloads(logger.lines).map((l) => l.fields?.sha256)).toEqual([sha256(V2)]);
    expect(refusals(logger.lines)).toEqual([]); // no half file was even tried
    expect(await decision(sidecar)).toEqual(["v2", "cluster-2"]);
  }, 30_000);

  it("follows a Kubernetes ConfigMap update: the kubelet's atomic swap of the ..data symlink", async () => {
    const dir = mkdtempSync(join(tmpdir(), "failover-configmap-"));
    const version = (name: string, text: string) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, "policy.yaml"), text);
    };
    version("..2026_12_01_09_00_00.1", CLUSTERS + route("v1"));
    symlinkSync("..2026_12_01_09_00_00.1", join(dir, "..data"));
    symlinkSync("..data/policy.yaml", join(dir, "policy.yaml"));
    const file = join(dir, "policy.yaml");
    const { sidecar, logger } = await watched(file);
    expect(sidecar.policy.serving.sha256).toBe(sha256(CLUSTERS + route("v1")));
    version("..2026_12_01_09_05_00.2", V2);
    symlinkSync("..2026_12_01_09_05_00.2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    rmSync(join(dir, "..2026_12_01_09_00_00.1"), { recursive: true });
    await eventually(() => reloads(logger.lines).length > 0, 10_000, "the swapped file adopted");
    expect(sidecar.policy.serving).toMatchObject({ source: file, sha256: sha256(V2) });
    expect(await decision(sidecar)).toEqual(["v2", "cluster-2"]);
  });
});

describe("a failed reload the operator can see (item 4)", () => {
  it("shows the serving policy and the last reload's error in /debug/clusters and /metrics, warns, and stays ready", async () => {
    const { file } = policyFile();
    const { sidecar, logger } = await watched(file, { settleMs: 100 });
    const v1 = sha256(CLUSTERS + route("v1"));
    let debug = JSON.parse((await admin(sidecar, "/debug/clusters")).text);
    expect(debug.policy.serving).toEqual({ source: file, sha256: v1, loadedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(debug.policy.lastReload).toBeNull();
    const broken = CLUSTERS + route("v3").replace("mode: auto", "mode: named\n      clusters: [cluster-9]");
    writeFileSync(file, broken);
    await eventually(() => sidecar.policy.lastReload !== null, 10_000, "the reload tried");
    debug = JSON.parse((await admin(sidecar, "/debug/clusters")).text);
    expect(debug.policy.serving.sha256).toBe(v1);
    expect(debug.policy.lastReload).toEqual({
      at: expect.any(String), result: "rejected", sha256: sha256(broken),
      error: 'failover: policy: routes[0].destination.clusters[0]: unknown cluster "cluster-9"',
    });
    const metrics = (await admin(sidecar, "/metrics")).text;
    expect(metrics).toMatch(/^failover_policy_last_reload_success 0$/m);
    expect(metrics).toMatch(new RegExp(`^failover_policy_info\\{sha256="${v1}"\\} 1$`, "m"));
    const warning = logger.lines.find((l) => l.msg === "the policy file on disk differs from the serving policy");
    expect(warning).toMatchObject({ level: "warn", fields: { file, fileSha256: sha256(broken), servingSha256: v1 } });
    // Readiness stays: the last good policy serves, and failing every replica on one bad
    // ConfigMap would take the service down. The gauge above is what alerts.
    expect((await admin(sidecar, "/readyz")).status).toBe(200);
    writeFileSync(file, V2);
    await eventually(() => sidecar.policy.lastReload?.result === "ok", 10_000, "the fixed file adopted");
    const after = (await admin(sidecar, "/metrics")).text;
    expect(after).toMatch(/^failover_policy_last_reload_success 1$/m);
    expect(after).toMatch(new RegExp(`^failover_policy_info\\{sha256="${sha256(V2)}"\\} 1$`, "m"));
    expect(after).not.toMatch(new RegExp(`failover_policy_info\\{sha256="${v1}"\\}`));
  });
});

describe("failover serve: signals and start-up errors (items 5 and 9)", () => {
  it("SIGHUP re-reads the policy file and keeps serving; SIGTERM still drains and exits 0", async () => {
    const { file } = policyFile();
    const p = new ServeProcess(["--policy", file, "--port", "0", "--admin-port", "0", "--watch-interval", "0", "--settle", "100", "--locality", "region-1"]);
    const port = await p.grpcPort();
    const ask = async () => {
      const c = new EnvoyLikeClient(port);
      const { upstreamRequest } = await c.exchange(request, ok);
      c.close();
      return upstreamRequest?.find(([k]) => k === "x-failover-decision")?.[1]?.match(/^route=(\S+) cluster=(\S+)/)?.slice(1, 3);
    };
    expect(await ask()).toEqual(["v1", "cluster-1"]);
    writeFileSync(file, V2);
    await sleep(200); // not watched (--watch-interval 0): only the signal makes it look
    expect(await ask()).toEqual(["v1", "cluster-1"]);
    p.child.kill("SIGHUP");
    expect((await p.waitFor("policy reloaded")).sha256).toBe(sha256(V2));
    expect(await ask()).toEqual(["v2", "cluster-2"]);
    expect(p.child.exitCode).toBeNull();
    p.child.kill("SIGTERM");
    expect(await p.exit()).toEqual({ code: 0, signal: null });
  });

  it("a port already in use: one clear log line and exit 1", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const p = new ServeProcess(["--policy", join(root, "examples", "edge-auto.yaml"), "--port", String(port), "--admin-port", "0"]);
      expect((await p.exit()).code).toBe(1);
      // The gRPC port is bound before anything else: one line, no stack trace.
      expect(p.stderr.trim().split("\n")).toHaveLength(1);
      expect(p.lines).toEqual([expect.objectContaining({ level: "error", msg: `cannot listen on 127.0.0.1:${port} (gRPC): the port is already in use (EADDRINUSE)` })]);
    } finally {
      taken.close();
    }
  });

  it("`serve --port abc`: the usage error first, and nothing logged", async () => {
    const p = new ServeProcess(["--port", "abc"]);
    expect((await p.exit()).code).toBe(2);
    expect(p.stderr.split("\n")[0]).toBe('failover serve: --port: expected a whole number 0..65535, got "abc"');
    expect(p.lines).toEqual([]);
  });
});
