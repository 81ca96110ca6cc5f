// The bootstrap additions Istio and Envoy Gateway merge into their proxies' bootstraps (an
// EnvoyProxy's spec.bootstrap, an Istio custom_bootstrap.json): text inside a Kubernetes resource
// that the kind's schema sees as a string, decoded here strictly with Envoy's protos.

import { parseDocuments } from "./source.js";
import { Decoder } from "./decode.js";
import { Issues } from "./issues.js";
import { envoyTypes } from "../protos.js";
import { type Resource, arr, obj, str } from "./resource.js";
import type { Path } from "./source.js";
import { isObject } from "./values.js";

const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
/** The file of an Istio bootstrap-override ConfigMap (pilot-agent's ISTIO_BOOTSTRAP_OVERRIDE). */
export const ISTIO_BOOTSTRAP_FILE = "custom_bootstrap.json";

/** An EnvoyProxy's spec.bootstrap: a Merge (or Replace, the default) value is Envoy bootstrap YAML. */
export function checkEnvoyProxy(r: Resource): void {
  const b = obj(r.spec.bootstrap);
  if (typeof b.value === "string" && (b.type ?? "Replace") !== "JSONPatch") checkBootstrapFragment(r.issues, ["spec", "bootstrap", "value"], b.value);
}

/** A ConfigMap's custom_bootstrap.json (Istio's bootstrap override). */
export function checkBootstrapOverrideFile(r: Resource): void {
  const text = obj(r.value.data)[ISTIO_BOOTSTRAP_FILE];
  if (typeof text === "string") checkBootstrapFragment(r.issues, ["data", ISTIO_BOOTSTRAP_FILE], text);
}

/**
 * Decodes `text` (YAML or JSON) as a part of an Envoy bootstrap: unknown fields and bad values are
 * errors (required fields are the generated bootstrap's to fill), and stats_tags regexes compile.
 */
export function checkBootstrapFragment(issues: Issues, path: Path, text: string): void {
  let value: unknown;
  try {
    const docs = parseDocuments(text);
    value = docs[0]?.value;
  } catch (e) {
    issues.error(path, `does not parse: ${(e as Error).message}`);
    return;
  }
  if (!isObject(value)) {
    issues.error(path, "expected a bootstrap fragment (a mapping)");
    return;
  }
  const inner = new Issues();
  const decoder = new Decoder(envoyTypes().root, inner, { rules: false });
  const canonical = obj(decoder.decode(decoder.lookup(BOOTSTRAP)!, value, []));
  arr(obj(canonical.stats_config).stats_tags).forEach((tag, i) => {
    try {
      new RegExp(str(tag.regex));
    } catch (e) {
      inner.error(["stats_config", "stats_tags", i, "regex"], `does not compile: ${(e as Error).message}`);
    }
  });
  // The fragment is text inside the resource: its findings sit at the resource member, naming the inner path.
  for (const i of inner.list) {
    const where = i.path.length ? `${i.path.map(String).join(".")}: ` : "";
    if (i.severity === "error") issues.error(path, `${where}${i.message}`);
    else issues.warn(path, `${where}${i.message}`);
  }
}
