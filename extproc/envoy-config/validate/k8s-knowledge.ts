// Which kinds the validator knows, in which API versions, and the schema of each: the field trees
// the project ships (k8s-schemas/: the core kinds from @kubernetes/client-node's models, see
// scripts/k8s-core-schema.mjs; Istio, Gateway API, Envoy Gateway and prometheus-operator kinds
// from each project's published CRDs; each file names its source) and, with `--crds DIR`, the
// user's own CRD files, which take precedence for the kinds and versions they define.

import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import envoyGateway from "./k8s-schemas/envoy-gateway.json" with { type: "json" };
import gatewayApi from "./k8s-schemas/gateway-api.json" with { type: "json" };
import istio from "./k8s-schemas/istio.json" with { type: "json" };
import kubernetes from "./k8s-schemas/kubernetes.json" with { type: "json" };
import prometheusOperator from "./k8s-schemas/prometheus-operator.json" with { type: "json" };
import { type FieldSchema, SchemaChecker, fieldSchema } from "./k8s-schema.js";
import { parseDocuments } from "./source.js";
import { isObject } from "./values.js";

/** A shipped file of field trees (see scripts/k8s-schemas.mjs). */
export interface SchemaFile {
  readonly source: string;
  /** Definitions the kinds' schemas refer to (`#/$defs/Name`). */
  readonly defs?: Record<string, FieldSchema>;
  /** `group` is "" for the core group (apiVersion v1). */
  readonly kinds: readonly { group: string; kind: string; versions: string[]; schema: unknown }[];
}

/** The core kinds, whose definitions include ObjectMeta, which every kind's metadata is. */
export const CORE: SchemaFile = kubernetes as SchemaFile;
export const SHIPPED: readonly SchemaFile[] = [CORE, istio, gatewayApi, envoyGateway, prometheusOperator] as SchemaFile[];

export interface KnownKind {
  readonly apiVersion: string;
  readonly kind: string;
  /** Where the knowledge is from (a shipped file's source, the client library, or a CRD file). */
  readonly source: string;
  readonly checker: SchemaChecker;
}

export class KnownKinds {
  private readonly byKind = new Map<string, KnownKind[]>();

  /** What the validator ships. */
  static builtIn(): KnownKinds {
    const known = new KnownKinds();
    for (const k of CORE.kinds) {
      for (const v of k.versions) {
        const schema = k.schema as FieldSchema;
        known.add({ apiVersion: k.group ? `${k.group}/${v}` : v, kind: k.kind, source: CORE.source, checker: new SchemaChecker({ ...schema, $defs: reachable(CORE.defs!, schema) }) });
      }
    }
    for (const file of SHIPPED.filter((f) => f !== CORE)) {
      for (const k of file.kinds) for (const v of k.versions) known.add(crdKind(`${k.group}/${v}`, k.kind, k.schema as FieldSchema, file.source));
    }
    return known;
  }

  /**
   * The kinds of every CustomResourceDefinition in the YAML / JSON files under `dir`, over what
   * the validator ships. Returns the problems met (an unreadable file, a CRD without schemas).
   */
  addCrds(dir: string): string[] {
    const problems: string[] = [];
    let files: string[];
    try {
      files = listFiles(dir);
    } catch (e) {
      return [`--crds ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`];
    }
    let found = 0;
    for (const file of files) {
      try {
        for (const doc of parseDocuments(readFileSync(file, "utf8"))) {
          const crd = doc.value;
          if (!isObject(crd) || crd.kind !== "CustomResourceDefinition" || !isObject(crd.spec)) continue;
          const { group, names, versions } = crd.spec as { group?: unknown; names?: { kind?: unknown }; versions?: unknown };
          for (const v of Array.isArray(versions) ? versions : []) {
            const schema = v?.schema?.openAPIV3Schema;
            if (!isObject(schema) || v.served === false) continue;
            const k = crdKind(`${String(group)}/${String(v.name)}`, String(names?.kind), fieldSchema(schema), file);
            found++;
            try {
              k.checker.compile(); // the user's CRD: say now if its schema is broken
            } catch (e) {
              problems.push(`${file}: ${k.kind} ${k.apiVersion}: ${(e as Error).message}`);
              continue;
            }
            this.add(k, true);
          }
        }
      } catch (e) {
        problems.push(`${file}: ${(e as Error).message}`);
      }
    }
    if (!found) problems.push(`--crds ${dir}: no CustomResourceDefinition with an openAPIV3Schema found`);
    return problems;
  }

  private add(k: KnownKind, replace = false): void {
    const list = this.byKind.get(k.kind) ?? [];
    const at = list.findIndex((x) => x.apiVersion === k.apiVersion);
    if (at >= 0 && replace) list[at] = k;
    else if (at < 0) list.push(k);
    this.byKind.set(k.kind, list);
  }

  lookup(apiVersion: unknown, kind: string): KnownKind | undefined {
    return this.byKind.get(kind)?.find((k) => k.apiVersion === apiVersion);
  }

  /** The API versions `kind` is served as (empty for a kind the validator does not know). */
  versions(kind: string): string[] {
    return (this.byKind.get(kind) ?? []).map((k) => k.apiVersion);
  }

  kinds(): string[] {
    return [...this.byKind.keys()];
  }
}

let builtIn: KnownKinds | undefined;

/** The shipped knowledge, plus the CRDs under `crdsDir` when given. */
export function knownKinds(crdsDir?: string): { known: KnownKinds; problems: string[] } {
  if (!crdsDir) return { known: (builtIn ??= KnownKinds.builtIn()), problems: [] };
  const known = KnownKinds.builtIn();
  return { known, problems: known.addCrds(crdsDir) };
}

/**
 * A CRD kind's schema as the API server applies it: apiVersion and kind are always allowed at the
 * top (Istio's CRDs do not list them), and metadata is Kubernetes' ObjectMeta (a CRD leaves it open).
 */
function crdKind(apiVersion: string, kind: string, schema: FieldSchema, source: string): KnownKind {
  const meta: FieldSchema = { $ref: "#/$defs/V1ObjectMeta" };
  const properties = { ...schema.properties, apiVersion: { type: "string" }, kind: { type: "string" }, metadata: meta } as const;
  const withMeta: FieldSchema = { ...schema, properties, $defs: reachable(CORE.defs!, meta) };
  return { apiVersion, kind, source, checker: new SchemaChecker(withMeta) };
}

/** The definitions `schema` refers to, directly or through others. */
function reachable(defs: Record<string, FieldSchema>, schema: FieldSchema): Record<string, FieldSchema> {
  const out: Record<string, FieldSchema> = {};
  const visit = (s: unknown): void => {
    if (Array.isArray(s)) return s.forEach(visit);
    if (!isObject(s)) return;
    const name = typeof s.$ref === "string" ? s.$ref.replace("#/$defs/", "") : undefined;
    if (name && !out[name] && defs[name]) {
      out[name] = defs[name];
      visit(defs[name]);
    }
    for (const v of Object.values(s)) visit(v);
  };
  visit(schema);
  return out;
}

function listFiles(dir: string): string[] {
  if (!statSync(dir).isDirectory()) return [dir];
  return readdirSync(dir).sort().flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? listFiles(p) : /\.(ya?ml|json)$/.test(e) ? [p] : [];
  });
}
