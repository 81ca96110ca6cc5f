// `failover image` against real tools: Debian's docker-registry (distribution) on a free loopback
// port, Debian's skopeo pushing the layout and pulling it back by digest; the pulled layer must be
// exactly the module, with the media types Istio's and Envoy Gateway's Wasm image fetchers look for
// (istio/istio pkg/wasm/imagefetcher.go @ 86c9f01f, envoyproxy/gateway internal/wasm/imagefetcher.go
// @ 0b8ea0eb: extractOCIArtifactImage wants exactly two layers, one of them
// application/vnd.module.wasm.content.layer.v1+wasm, read raw; the compat variant, tried first,
// wants a last layer application/vnd.oci.image.layer.v1.tar+gzip, which this image does not have).
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { WASM_LAYER_MEDIA_TYPE, wasmImage } from "../extproc/module/wasm-image.js";
import { buildFirst, cli } from "./support/cli.js";
import { freePort, run, tool } from "./support/tools.js";
import { FAILOVER_WASM, root } from "./support/wasm.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const REPO = "envoy-failover/failover-wasm";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

let dir: string;
let registry: ChildProcess | undefined;
let port: number;

/** Starts docker-registry with a config of our own: storage in the temp dir, loopback only. */
async function startRegistry(): Promise<void> {
  const bin = tool("docker-registry", "docker-registry");
  port = await freePort();
  const config = join(dir, "registry.yml");
  writeFileSync(config, [
    "version: 0.1",
    "log: { level: error }",
    `storage: { filesystem: { rootdirectory: ${join(dir, "registry")} }, delete: { enabled: false } }`,
    `http: { addr: "127.0.0.1:${port}", secret: test-only }`,
    "",
  ].join("\n"));
  const proc = spawn(bin, ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  registry = proc;
  let stderr = "";
  proc.stderr!.on("data", (d) => (stderr += d));
  for (let attempt = 0; attempt < 100; attempt++) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited ${proc.exitCode}: ${stderr}`);
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${stderr}`);
}

buildFirst();
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "failover-image-"));
  await startRegistry();
}, 120_000);

afterAll(() => {
  registry?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("failover image", () => {
  it("writes a layout, prints its digest and the module's sha256; skopeo pushes it and pulls it back by digest, byte for byte", () => {
    const skopeo = tool("skopeo", "skopeo");
    const layout = join(dir, "layout");
    const out = cli("image", "--out", layout, "--tag", "test");
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    const module = readFileSync(FAILOVER_WASM);
    const digest = /^image digest: +(sha256:[0-9a-f]{64})/m.exec(out.stdout)![1];
    expect(out.stdout).toMatch(new RegExp(`^module sha256: ${sha256(module)} `, "m"));

    const ref = `docker://127.0.0.1:${port}/${REPO}`;
    const push = run(skopeo, ["copy", "--dest-tls-verify=false", `oci:${layout}:test`, `${ref}:test`]);
    expect(push.code, push.stderr).toBe(0);

    // Pulled back by digest into a second layout: skopeo verifies every blob's digest on the way.
    const pulled = join(dir, "pulled");
    const pull = run(skopeo, ["copy", "--src-tls-verify=false", `${ref}@${digest}`, `oci:${pulled}:pulled`]);
    expect(pull.code, pull.stderr).toBe(0);
    const index = JSON.parse(readFileSync(join(pulled, "index.json"), "utf8"));
    expect(index.manifests[0].digest).toBe(digest); // the registry kept the manifest byte for byte
    const blob = (d: string) => readFileSync(join(pulled, "blobs", "sha256", d.slice("sha256:".length)));
    const manifest = JSON.parse(blob(digest).toString());
    expect(manifest.mediaType).toBe(OCI_MANIFEST);
    // What Istio's extractOCIArtifactImage reads: two layers, the wasm one raw.
    expect(manifest.layers).toHaveLength(2);
    const wasmLayers = manifest.layers.filter((l: { mediaType: string }) => l.mediaType === WASM_LAYER_MEDIA_TYPE);
    expect(wasmLayers).toHaveLength(1);
    expect(blob(wasmLayers[0].digest).equals(module)).toBe(true);
    // Not mistaken for the compat variant (its last layer would have to be tar+gzip).
    expect(manifest.layers.at(-1).mediaType).not.toBe("application/vnd.oci.image.layer.v1.tar+gzip");
  }, 120_000);

  it("the registry serves the manifest under the printed digest (what Istio's agent compares with sha256)", async () => {
    const digest = wasmImage(readFileSync(FAILOVER_WASM), JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version).manifest.digest;
    const skopeo = tool("skopeo", "skopeo");
    const layout = join(dir, "release");
    expect(cli("image", "--out", layout).code).toBe(0);
    const push = run(skopeo, ["copy", "--dest-tls-verify=false", `oci:${layout}:0.1.0`, `docker://127.0.0.1:${port}/${REPO}:0.1.0`]);
    expect(push.code, push.stderr).toBe(0);
    const res = await fetch(`http://127.0.0.1:${port}/v2/${REPO}/manifests/0.1.0`, { headers: { accept: OCI_MANIFEST } });
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest.slice("sha256:".length));
  }, 120_000);

  it("is reproducible: the digest depends on the module's bytes alone", () => {
    const module = readFileSync(FAILOVER_WASM);
    expect(wasmImage(module, "0.1.0").manifest.digest).toBe(wasmImage(Buffer.from(module), "0.1.0").manifest.digest);
    const changed = Buffer.from(module);
    changed[changed.length - 1] ^= 1;
    expect(wasmImage(changed, "0.1.0").manifest.digest).not.toBe(wasmImage(module, "0.1.0").manifest.digest);
  });

  it("the oci:// WasmPlugin and the Envoy Gateway image source carry the digest of the built module's image", () => {
    const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
    const hex = wasmImage(readFileSync(FAILOVER_WASM), version).manifest.digest.slice("sha256:".length);
    const waypoint = readFileSync(join(root, "envoy/istio/waypoint.yaml"), "utf8").split(/^---$/m).map((d) => parse(d)).find((d) => d?.kind === "WasmPlugin");
    expect(waypoint.spec.url).toMatch(/^oci:\/\//);
    expect(waypoint.spec.sha256).toBe(hex);
    const eg = parse(readFileSync(join(root, "envoy/gateway/wasm.yaml"), "utf8"));
    expect(eg.spec.wasm[0].code.image.sha256).toBe(hex);
  });

  it("names a missing module and a bad tag clearly", () => {
    const missing = cli("image", "--module", join(dir, "nope.wasm"), "--out", join(dir, "x"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.wasm: cannot read \(ENOENT\)/);
    const tag = cli("image", "--tag", "a/b", "--out", join(dir, "x"));
    expect(tag.code).toBe(2);
    expect(tag.stderr).toMatch(/--tag "a\/b": not a valid image tag/);
  });
});
