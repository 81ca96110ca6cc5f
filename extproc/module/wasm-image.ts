// `failover image`: the built module as an OCI image layout that Istio's and Envoy Gateway's Wasm
// image fetchers pull (push it with skopeo or oras).
//
// Format: the "oci" variant of the Wasm image spec, which Istio's fetcher
// (istio/istio pkg/wasm/imagefetcher.go @ 86c9f01f, extractOCIArtifactImage) accepts when the
// manifest has exactly two layers, one of media type application/vnd.module.wasm.content.layer.v1+wasm
// holding the raw module (read with Compressed(), so never gzipped); the other holds the runtime
// config. Istio tries the "compat" variant first; that one needs a tar+gzip last layer, which this
// manifest does not have, so it falls through to this one. Nothing here is compressed or
// timestamped, so the image digest depends on the module's bytes alone: the `sha256` of an oci://
// WasmPlugin (Istio compares it with the manifest digest, pkg/wasm/cache.go) and of an Envoy
// Gateway image source ("must match the digest of the OCI image") can be computed from the module.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const WASM_LAYER_MEDIA_TYPE = "application/vnd.module.wasm.content.layer.v1+wasm";
export const WASM_CONFIG_MEDIA_TYPE = "application/vnd.module.wasm.config.v1+json";
export const OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface WasmImage {
  /** Every blob by digest (`sha256:...`). */
  blobs: Map<string, Buffer>;
  manifest: Descriptor;
  /** Hex sha256 of the module itself. */
  moduleSha256: string;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function descriptor(blobs: Map<string, Buffer>, mediaType: string, bytes: Buffer): Descriptor {
  const digest = `sha256:${sha256(bytes)}`;
  blobs.set(digest, bytes);
  return { mediaType, digest, size: bytes.length };
}

/** The image of a module: its blobs and manifest, in memory. */
export function wasmImage(module: Buffer, version: string): WasmImage {
  const blobs = new Map<string, Buffer>();
  // The runtime config of the Wasm image spec: an Envoy proxy-wasm module (ABI 0.2.1) with one root.
  const runtime = Buffer.from(JSON.stringify({ type: "envoy_proxy", abiVersions: ["v0.2.1"], config: { rootIds: [] } }));
  const config = descriptor(blobs, WASM_CONFIG_MEDIA_TYPE, runtime);
  const layers = [descriptor(blobs, WASM_LAYER_MEDIA_TYPE, module), config];
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    config,
    layers,
    annotations: { "org.opencontainers.image.title": "failover.wasm", "org.opencontainers.image.version": version },
  };
  return { blobs, manifest: descriptor(blobs, OCI_MANIFEST_MEDIA_TYPE, Buffer.from(JSON.stringify(manifest))), moduleSha256: sha256(module) };
}

/** The image digest (hex, no `sha256:`) of a module file, as a WasmPlugin's `sha256` wants it. */
export const wasmImageDigest = (modulePath: string, version: string) => wasmImage(readFileSync(modulePath), version).manifest.digest.slice("sha256:".length);

/** Writes the image as an OCI image layout in `dir` (replacing what was there), tagged `tag`. */
export function writeImageLayout(image: WasmImage, dir: string, tag: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  for (const [digest, bytes] of image.blobs) writeFileSync(join(dir, "blobs", "sha256", digest.slice("sha256:".length)), bytes);
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }) + "\n");
  const index = { schemaVersion: 2, manifests: [{ ...image.manifest, annotations: { "org.opencontainers.image.ref.name": tag } }] };
  writeFileSync(join(dir, "index.json"), JSON.stringify(index) + "\n");
}
