// Validates one file: an Envoy bootstrap (decoded strictly with Envoy's protos, then
// cross-checked), a file of Kubernetes resources, or a failover policy document. Every policy
// found on the way is judged by the failover module itself.

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { PropertyTree } from "../../host/index.js";
import { type FoundPolicy, type PolicyFileResult, checkBootstrap } from "./bootstrap.js";
import { Decoder } from "./decode.js";
import { type Issue, Issues } from "./issues.js";
import { failoverModule, policyProblems } from "../../module/failover-module.js";
import { envoyTypes, messageType } from "../protos.js";
import type { KnownKinds } from "./k8s-knowledge.js";
import { Resource } from "./resource.js";
import { checkResources } from "./resources.js";
import { ParseError, type Path, type Segment, type SourceDocument, formatPath, parseDocuments } from "./source.js";
import { isObject, jsonName } from "./values.js";
import { checkIstioOwnedHeaders, checkOwnedHeadersStripped } from "./client-headers.js";
import { ownedHeadersOf } from "../../module/owned-headers.js";
import { checkBootstrapVersion, checkResourcesVersion } from "./version-checks.js";
import { CURRENT_ENVOY } from "../versions.js";

export type FileKind = "Envoy bootstrap" | "Kubernetes resources" | "failover policy";

export interface Finding {
  readonly severity: Issue["severity"];
  /** `line:column` in the file. */
  readonly where: string;
  /** The resource a finding is about, in a file of several (`WasmPlugin sample/failover`). */
  readonly subject?: string;
  readonly path: string;
  readonly message: string;
}

export interface FileReport {
  readonly file: string;
  readonly kind?: FileKind;
  readonly findings: Finding[];
  /** How many policies the module checked. */
  readonly policies: number;
}

const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";

export interface ValidateOptions {
  /** The Kubernetes kinds to check resources against (default: what the validator ships). */
  readonly known?: KnownKinds;
  /** The Envoy release the config is for ("1.31"); default the current one (versions.ts). */
  readonly envoyVersion?: string;
}

export async function validateFile(file: string, options: ValidateOptions = {}): Promise<FileReport> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    return { file, findings: [{ severity: "error", where: "1:1", path: "(file)", message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }], policies: 0 };
  }
  return validateText(text, file, options);
}

/** Validates `text` as if read from `file` (which resolves files a bootstrap names). */
export async function validateText(text: string, file: string, options: ValidateOptions = {}): Promise<FileReport> {
  let docs: SourceDocument[];
  try {
    docs = parseDocuments(text);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    const [, where, message] = /^(\d+:\d+): (.*)$/s.exec(e.message) ?? ["", "1:1", e.message];
    return { file, findings: [{ severity: "error", where, path: "(file)", message }], policies: 0 };
  }
  const kind = classify(docs);
  if (!kind) return { file, findings: [{ severity: "error", where: "1:1", path: "(file)", message: "not an Envoy bootstrap, Kubernetes resources or a failover policy" }], policies: 0 };
  const envoyVersion = options.envoyVersion ?? CURRENT_ENVOY;
  if (kind === "Kubernetes resources") return validateResources(file, docs, options.known ?? (await import("./k8s-knowledge.js")).knownKinds().known, envoyVersion);
  if (kind === "failover policy") return validatePolicy(file, docs[0]);
  return validateBootstrap(file, docs[0], envoyVersion);
}

function classify(docs: SourceDocument[]): FileKind | undefined {
  if (docs.length && docs.some((d) => isObject(d.value) && "apiVersion" in d.value && "kind" in d.value)) return "Kubernetes resources";
  if (docs.length !== 1 || !isObject(docs[0].value)) return undefined;
  const top = docs[0].value;
  if ("clusters" in top && "routes" in top && !("static_resources" in top)) return "failover policy";
  const bootstrap = messageType(BOOTSTRAP)!;
  const fields = new Set(bootstrap.fieldsArray.flatMap((f) => [f.name, jsonName(f.name)]));
  return Object.keys(top).some((k) => fields.has(k)) ? "Envoy bootstrap" : undefined;
}

async function validateBootstrap(file: string, doc: SourceDocument, envoyVersion: string): Promise<FileReport> {
  const issues = new Issues();
  const decoder = new Decoder(envoyTypes().root, issues, { rules: true, envoyVersion });
  const canonical = decoder.decode(messageType(BOOTSTRAP)!, doc.value, []);
  const found = isObject(canonical) ? checkBootstrap(canonical, issues, (ref) => readPolicyFile(resolve(dirname(file), ref))) : [];
  if (isObject(canonical)) checkBootstrapVersion(canonical, issues, envoyVersion);
  const node = isObject(canonical) ? nodeProperties(canonical.node) : {};
  await judgePolicies(found.map((p) => ({ ...p, structured: false })), issues, node);
  if (isObject(canonical) && found.length) checkOwnedHeadersStripped(canonical, await ownedHeadersOf(found, node), issues);
  return { file, kind: "Envoy bootstrap", findings: findings(issues, doc), policies: found.length };
}

async function validatePolicy(file: string, doc: SourceDocument): Promise<FileReport> {
  const issues = new Issues();
  await judgePolicies([{ path: [], doc: doc.value, text: JSON.stringify(doc.value), structured: true }], issues, {});
  return { file, kind: "failover policy", findings: findings(issues, doc), policies: 1 };
}

async function validateResources(file: string, docs: SourceDocument[], known: KnownKinds, envoyVersion: string): Promise<FileReport> {
  const resources = docs.flatMap(resourcesOf);
  const policies = checkResources(resources, known);
  checkResourcesVersion(resources, envoyVersion);
  for (const r of resources) {
    await judgePolicies(policies.filter((p) => p.resource === r), r.issues, {});
  }
  for (const p of policies.filter((x) => x.resource.kind === "WasmPlugin")) checkIstioOwnedHeaders(p, resources, await ownedHeadersOf([p], {}));
  const out = resources.flatMap((r) => findings(r.issues, r.doc, r.label, r.at));
  return { file, kind: "Kubernetes resources", findings: out, policies: policies.length };
}

/** Runs the module on each policy; its complaints become errors at the policy (or inside it). */
async function judgePolicies(policies: (FoundPolicy & { structured: boolean })[], issues: Issues, node: PropertyTree): Promise<void> {
  if (!policies.length) return;
  let module: WebAssembly.Module;
  try {
    module = await failoverModule();
  } catch (e) {
    for (const p of policies) issues.error(p.path, `the policy cannot be checked: ${(e as Error).message}`);
    return;
  }
  for (const p of policies) {
    for (const line of policyProblems(module, p.text, node)) {
      const m = /^failover: policy: (\S+): /.exec(line);
      issues.error(p.structured && m ? [...p.path, ...modulePath(m[1])] : p.path, `the failover module rejects the policy: ${line}`);
    }
  }
}

/** `routes[0].destination.weights.c9` -> ["routes", 0, "destination", "weights", "c9"]. */
function modulePath(path: string): Segment[] {
  if (path === "document") return [];
  return [...path.matchAll(/\[(\d+)\]|([^.[\]]+)/g)].map((m) => (m[1] !== undefined ? Number(m[1]) : m[2]));
}

/** What Envoy serves the module as xds.node: the bootstrap's id, cluster, locality and string metadata. */
function nodeProperties(node: unknown): PropertyTree {
  if (!isObject(node)) return {};
  const strings = (o: unknown) => Object.fromEntries(Object.entries(isObject(o) ? o : {}).filter(([, v]) => typeof v === "string")) as PropertyTree;
  return { ...strings({ id: node.id, cluster: node.cluster }), locality: strings(node.locality), metadata: strings(node.metadata) };
}

function readPolicyFile(path: string): PolicyFileResult {
  try {
    const docs = parseDocuments(readFileSync(path, "utf8"));
    if (docs.length !== 1 || !isObject(docs[0].value)) return { problem: `${path} is not a single policy document` };
    return { doc: docs[0].value, text: JSON.stringify(docs[0].value) };
  } catch (e) {
    return { problem: `cannot load the sidecar's policy ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

/** A document's resources: itself, or the items of a List (as `kubectl get -o yaml` writes them). */
function resourcesOf(doc: SourceDocument): Resource[] {
  const v = doc.value;
  if (!isObject(v) || v.apiVersion !== "v1" || typeof v.kind !== "string" || !v.kind.endsWith("List") || !Array.isArray(v.items)) return [new Resource(doc)];
  return v.items.map((_, i) => new Resource(doc, ["items", i]));
}

/** `at`: where the resource the issues are about sits in its document (an item of a List). */
function findings(issues: Issues, doc: SourceDocument, subject?: string, at: Path = []): Finding[] {
  return issues.list.map((i) => ({ severity: i.severity, where: doc.where([...at, ...i.path]), subject, path: formatPath(i.path), message: i.message }));
}
