// Core Kubernetes kinds the sidecar ships as: ConfigMap (the policy), Deployment, Service. Besides
// each kind's required fields: the Deployment is least-privilege and probed on the admin port,
// the Service reaches container ports the Deployment declares, and the policy path the sidecar is
// started with is a file of the ConfigMap mounted there.

import { basename, dirname } from "node:path";
import { parseDocuments } from "./source.js";
import type { Path } from "./source.js";
import { type Obj, type Resource, type ResourcePolicy, arr, needList, needString, obj, str, stringMap } from "./resource.js";
import { isObject } from "./values.js";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A ConfigMap's files that hold a failover policy (a mapping with clusters and routes). */
export function checkConfigMap(r: Resource): ResourcePolicy[] {
  const data = r.value.data;
  if (data === undefined) return [];
  if (!isObject(data)) {
    r.issues.error(["data"], "expected a map of file names to contents");
    return [];
  }
  const out: ResourcePolicy[] = [];
  for (const [file, text] of Object.entries(data)) {
    if (typeof text !== "string") {
      r.issues.error(["data", file], "expected the file's contents as a string");
      continue;
    }
    if (!/\.(ya?ml|json)$/.test(file)) continue;
    let docs;
    try {
      docs = parseDocuments(text);
    } catch (e) {
      r.issues.error(["data", file], `does not parse: ${(e as Error).message}`);
      continue;
    }
    const doc = docs[0]?.value;
    if (isObject(doc) && "clusters" in doc && "routes" in doc) out.push({ resource: r, path: ["data", file], doc, text: JSON.stringify(doc), structured: false });
  }
  return out;
}

export function checkDeployment(r: Resource, all: Resource[]): void {
  const spec = r.spec;
  const selector = stringMap(r.issues, ["spec", "selector", "matchLabels"], obj(spec.selector).matchLabels);
  if (!Object.keys(selector).length) r.issues.error(["spec", "selector", "matchLabels"], "required: the labels that pick this Deployment's pods");
  const template = obj(spec.template);
  const labels = stringMap(r.issues, ["spec", "template", "metadata", "labels"], obj(template.metadata).labels);
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] !== v) r.issues.error(["spec", "template", "metadata", "labels"], `must carry the selector's ${k}: ${v} (Kubernetes rejects a selector that does not match the template)`);
  }
  const pod = obj(template.spec);
  const volumes = arr(pod.volumes);
  needList(r.issues, ["spec", "template", "spec", "containers"], pod.containers).forEach((c, i) => {
    checkContainer(r, c, ["spec", "template", "spec", "containers", i], pod, volumes, all);
  });
}

function checkContainer(r: Resource, c: Obj, path: Path, pod: Obj, volumes: Obj[], all: Resource[]): void {
  const name = needString(r.issues, [...path, "name"], c.name);
  if (name && !DNS_LABEL.test(name)) r.issues.error([...path, "name"], `"${name}" is not a DNS label`);
  needString(r.issues, [...path, "image"], c.image);
  const portNames = new Set<string>();
  arr(c.ports).forEach((p, i) => {
    const n = p.containerPort;
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 65535) r.issues.error([...path, "ports", i, "containerPort"], "expected a port number 1..65535");
    if (typeof p.name === "string") {
      if (p.name.length > 15 || !DNS_LABEL.test(p.name)) r.issues.error([...path, "ports", i, "name"], "a port name is a DNS label of at most 15 characters");
      portNames.add(p.name);
    }
  });
  for (const probe of ["readinessProbe", "livenessProbe"]) {
    const get = obj(obj(c[probe]).httpGet);
    if (!isObject(c[probe])) {
      r.issues.error([...path, probe], "required: the sidecar answers /readyz and /healthz on its admin port");
      continue;
    }
    if (!str(get.path).startsWith("/")) r.issues.error([...path, probe, "httpGet", "path"], "expected an HTTP path");
    if (typeof get.port === "string" && !portNames.has(get.port)) r.issues.error([...path, probe, "httpGet", "port"], `no container port is named "${get.port}"`);
  }
  const resources = obj(c.resources);
  if (!isObject(resources.requests)) r.issues.error([...path, "resources", "requests"], "required: the scheduler needs the sidecar's CPU and memory needs");
  if (!isObject(obj(resources.limits)) || !obj(resources.limits).memory) r.issues.error([...path, "resources", "limits", "memory"], "required: bound the sidecar's memory");
  checkSecurityContext(r, obj(c.securityContext), obj(pod.securityContext), path);
  checkPolicyMount(r, c, path, volumes, all);
}

/** Least privilege: no root, no privilege escalation, no capabilities, a read-only root filesystem. */
function checkSecurityContext(r: Resource, sc: Obj, podSc: Obj, path: Path): void {
  const at = [...path, "securityContext"];
  if (sc.runAsNonRoot !== true && podSc.runAsNonRoot !== true) r.issues.error([...at, "runAsNonRoot"], "must be true (here or in the pod's securityContext)");
  if (sc.allowPrivilegeEscalation !== false) r.issues.error([...at, "allowPrivilegeEscalation"], "must be false");
  if (sc.readOnlyRootFilesystem !== true) r.issues.error([...at, "readOnlyRootFilesystem"], "must be true: the sidecar writes nothing");
  const drop = obj(sc.capabilities).drop;
  if (!Array.isArray(drop) || !drop.includes("ALL")) r.issues.error([...at, "capabilities", "drop"], "must drop ALL capabilities");
}

/** `--policy FILE` must be a file of a ConfigMap that this file defines and the container mounts. */
function checkPolicyMount(r: Resource, c: Obj, path: Path, volumes: Obj[], all: Resource[]): void {
  const args = Array.isArray(c.args) ? c.args.map(String) : [];
  const at = args.indexOf("--policy");
  if (at < 0) return;
  const file = args[at + 1] ?? "";
  const argPath: Path = [...path, "args", at + 1];
  const mount = arr(c.volumeMounts).find((m) => str(m.mountPath) === dirname(file));
  if (!mount) {
    r.issues.error(argPath, `no volume is mounted at ${dirname(file)}, where the policy ${file} should be`);
    return;
  }
  const volume = volumes.find((v) => v.name === mount.name);
  const configMap = str(obj(volume?.configMap).name);
  const defined = all.find((x) => x.kind === "ConfigMap" && x.name === configMap && x.namespace === r.namespace);
  if (!volume) r.issues.error(argPath, `the mount "${str(mount.name)}" has no volume of that name`);
  else if (defined && !Object.keys(obj(defined.value.data)).includes(basename(file))) {
    r.issues.error(argPath, `ConfigMap ${configMap} has no file ${basename(file)} (it has: ${Object.keys(obj(defined.value.data)).join(", ")})`);
  }
}

export function checkService(r: Resource, all: Resource[]): void {
  const selector = stringMap(r.issues, ["spec", "selector"], r.spec.selector);
  const ports = needList(r.issues, ["spec", "ports"], r.spec.ports);
  const targets = all.filter((d) => d.kind === "Deployment" && d.namespace === r.namespace && matches(selector, obj(obj(obj(d.spec.template).metadata).labels)));
  if (Object.keys(selector).length && !targets.length && all.some((d) => d.kind === "Deployment")) {
    r.issues.warn(["spec", "selector"], "selects no Deployment defined in this file");
  }
  const containerPorts = new Set(targets.flatMap((d) => arr(obj(obj(d.spec.template).spec).containers).flatMap((c) => arr(c.ports).map((p) => str(p.name)))));
  ports.forEach((p, i) => {
    if (!Number.isInteger(p.port)) r.issues.error(["spec", "ports", i, "port"], "required: a port number");
    if (typeof p.targetPort === "string" && targets.length && !containerPorts.has(p.targetPort)) {
      r.issues.error(["spec", "ports", i, "targetPort"], `no container port of the selected pods is named "${p.targetPort}"`);
    }
  });
}

function matches(selector: Record<string, string>, labels: Obj): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}
