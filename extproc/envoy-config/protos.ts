// Envoy's API types, loaded from the proto trees that @grpc/grpc-js-xds ships in its deps/
// folder (Envoy's own protos, kept current by the gRPC team), so configs are checked against
// Envoy's definitions and never against a hand-written copy.
//
// Only v3 packages are loaded: a v3 bootstrap cannot name v2 types, and Envoy no longer links
// them. A handful of v3 files import protos that the package does not ship (OpenCensus,
// OpenTelemetry, Prometheus); they are skipped, listed in `skipped`, and a config that names one
// of their types is reported as naming a type this validator cannot check.

import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import protobuf from "protobufjs";

export interface EnvoyTypes {
  readonly root: protobuf.Root;
  /** How many .proto files were loaded. */
  readonly files: number;
  /** v3 files left out because an import they need is not shipped. */
  readonly skipped: string[];
}

const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
// Include roots, in the order protoc would be given them. protobufjs carries descriptor.proto;
// the other google/protobuf files (any, duration, struct, ...) are bundled inside protobufjs.
const INCLUDE = [
  join(DEPS, "envoy-api"),
  join(DEPS, "xds"),
  join(DEPS, "googleapis"),
  join(DEPS, "protoc-gen-validate"),
  dirname(require.resolve("protobufjs/package.json")),
];
const BUNDLED = /^google\/protobuf\/(any|duration|empty|field_mask|struct|timestamp|wrappers)\.proto$/;

let loaded: EnvoyTypes | undefined;

/** Loads (once per process) every v3 Envoy API type and every xds/udpa type. */
export function envoyTypes(): EnvoyTypes {
  if (loaded) return loaded;
  const candidates = [
    ...protoFiles(INCLUDE[0]).filter((f) => /(^|\/)v3[a-z0-9]*\//.test(f)),
    ...protoFiles(INCLUDE[1]),
  ];
  const imports = new ImportGraph();
  const files = candidates.filter((f) => imports.complete(f));
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => locate(target) ?? target;
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  loaded = { root, files: files.length, skipped: candidates.filter((f) => !files.includes(f)) };
  return loaded;
}

/** Just `files` and what they import (the host's property types load a few, not all). */
export function loadProtoFiles(files: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => locate(target) ?? target;
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

/** A message type by its full name (no leading dot), or undefined. */
export function messageType(name: string): protobuf.Type | undefined {
  const found = envoyTypes().root.lookup(name);
  return found instanceof protobuf.Type ? found : undefined;
}

function locate(file: string): string | undefined {
  for (const dir of INCLUDE) {
    const path = join(dir, file);
    if (existsSync(path)) return path;
  }
  return undefined;
}

function protoFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d).sort()) {
      const p = join(d, entry);
      if (statSync(p).isDirectory()) walk(p);
      else if (entry.endsWith(".proto")) out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

/** Which files have every transitive import available (read from their `import` lines). */
class ImportGraph {
  private readonly memo = new Map<string, boolean>();

  complete(file: string, visiting = new Set<string>()): boolean {
    const known = this.memo.get(file);
    if (known !== undefined) return known;
    if (BUNDLED.test(file) || visiting.has(file)) return true;
    const path = locate(file);
    if (!path) {
      this.memo.set(file, false);
      return false;
    }
    visiting.add(file);
    const text = readFileSync(path, "utf8");
    const ok = [...text.matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm)].every((m) => this.complete(m[1], visiting));
    this.memo.set(file, ok);
    return ok;
  }
}
