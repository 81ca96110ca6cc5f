// Test support for the Envoy config validator: load a committed file under envoy/, change it,
// and validate the result as if it were that file (so files it names still resolve).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { type FileReport, type ValidateOptions, validateText } from "../../extproc/envoy-config/validate/index.js";
import { root } from "./wasm.js";

/** A parsed document, loosely typed so tests can reach into it. */
export type Doc = Record<string, any>;

/** Every file under envoy/, relative to the repository root. */
export function envoyDirFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir).sort()) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(root, p));
    }
  };
  walk(join(root, "envoy"));
  return out;
}

/** The documents of a committed file, as plain objects to change. */
export function load(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(root, file), "utf8")).map((d) => d.toJS() as Doc);
}

/** Validates `docs` (changed by `change`) as if they were `file`. */
export async function validateChanged(file: string, change: (docs: Doc[]) => void, options: ValidateOptions = {}): Promise<FileReport> {
  const docs = load(file);
  change(docs);
  return validateText(docs.map((d) => stringify(d, { lineWidth: 0 })).join("---\n"), join(root, file), options);
}

/** `path: message` of each error (with the resource, in a file of several). */
export function errors(report: FileReport): string[] {
  return report.findings.filter((f) => f.severity === "error").map((f) => `${f.subject ? `${f.subject}: ` : ""}${f.path}: ${f.message}`);
}

export function warnings(report: FileReport): string[] {
  return report.findings.filter((f) => f.severity === "warning").map((f) => `${f.subject ? `${f.subject}: ` : ""}${f.path}: ${f.message}`);
}

/** The HTTP connection manager of a generated bootstrap. */
export function hcm(doc: Doc): Doc {
  return doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
}

export const HCM_PATH = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
