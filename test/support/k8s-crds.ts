// Test support: the real CRD schemas in shared/crds (test data, never copied into the repository;
// see its README), and a field-by-field comparison of two FieldSchemas.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { RE2JS } from "re2js";
import { parseAllDocuments } from "yaml";
import type { FieldSchema } from "../../extproc/envoy-config/validate/k8s-schema.js";
import { root } from "./wasm.js";

/** shared/crds beside the repository (CI: ../shared; a helper's work tree: further up). */
export function crdsDir(): string {
  for (let dir = root; dir !== dirname(dir); dir = dirname(dir)) {
    const at = join(dir, "..", "shared", "crds");
    if (existsSync(join(at, "README.md"))) return at;
  }
  throw new Error(`no shared/crds beside ${root} or a parent: the CRD test data is missing`);
}

export interface CrdVersion {
  readonly file: string;
  readonly group: string;
  readonly kind: string;
  readonly version: string;
  readonly schema: unknown;
}

/** Every served version of every CRD in shared/crds. */
export function crdVersions(): CrdVersion[] {
  const dir = crdsDir();
  return readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort().flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => d.toJS()).filter((c) => c?.kind === "CustomResourceDefinition").flatMap((c) =>
      c.spec.versions.filter((v: any) => v.served).map((v: any) => ({ file, group: c.spec.group, kind: c.spec.names.kind, version: v.name, schema: v.schema.openAPIV3Schema })),
    ),
  );
}

const WORDS = ["type", "enum", "required", "nullable", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource"] as const;

/** A CRD pattern that RE2 (Go's regexp, which the API server uses) cannot compile: the product leaves those out. */
export function notRe2(pattern: string): boolean {
  try {
    RE2JS.compile(pattern);
    return false;
  } catch {
    return true;
  }
}

/**
 * Where `known` (what the product ships) and `crd` (the CRD's own openAPIV3Schema, read here
 * directly) disagree, one line per field: a field only one side has, a type, enum, required list
 * or limit that differs. Not compared: what the product deliberately leaves out (descriptions,
 * defaults, formats, CEL rules, and patterns RE2 cannot compile, listed in `dropped`).
 */
export function differences(known: FieldSchema, crd: any, at = "", dropped: string[] = []): string[] {
  const out: string[] = [];
  const here = at || "(top)";
  for (const w of WORDS) {
    let theirs = crd[w] === false ? undefined : crd[w];
    if (w === "pattern" && typeof theirs === "string" && notRe2(theirs)) {
      dropped.push(`${here}: ${theirs}`);
      theirs = undefined;
    }
    if (JSON.stringify(known[w]) !== JSON.stringify(theirs)) out.push(`${here}: ${w} is ${JSON.stringify(known[w])} here, ${JSON.stringify(theirs)} in the CRD`);
  }
  const kp = known.properties ?? {};
  const cp = crd.properties ?? {};
  for (const name of Object.keys(kp)) if (!(name in cp)) out.push(`${at}.${name}: known here, not in the CRD`);
  for (const name of Object.keys(cp)) if (!(name in kp)) out.push(`${at}.${name}: in the CRD, not known here`);
  for (const name of Object.keys(kp)) if (name in cp) out.push(...differences(kp[name], cp[name], `${at}.${name}`, dropped));
  const pairs: [string, FieldSchema | undefined, any][] = [
    ["[]", known.items, crd.items],
    ["{}", typeof known.additionalProperties === "object" ? known.additionalProperties : undefined, typeof crd.additionalProperties === "object" ? crd.additionalProperties : undefined],
    ["!", known.not, crd.not],
  ];
  for (const [mark, k, c] of pairs) {
    if (!k !== !c) out.push(`${at}${mark}: ${k ? "known here, not in the CRD" : "in the CRD, not known here"}`);
    else if (k && c) out.push(...differences(k, c, `${at}${mark}`, dropped));
  }
  if (typeof known.additionalProperties === "boolean" || typeof crd.additionalProperties === "boolean") {
    if (known.additionalProperties !== crd.additionalProperties) out.push(`${here}: additionalProperties is ${JSON.stringify(known.additionalProperties)} here, ${JSON.stringify(crd.additionalProperties)} in the CRD`);
  }
  for (const list of ["anyOf", "oneOf", "allOf"] as const) {
    const k = known[list] ?? [];
    const c = crd[list] ?? [];
    if (k.length !== c.length) out.push(`${here}: ${k.length} ${list} forms here, ${c.length} in the CRD`);
    else k.forEach((x, i) => out.push(...differences(x, c[i], `${at}<${list} ${i}>`, dropped)));
  }
  return out;
}
