// The validator's knowledge of each Kubernetes kind, checked against the real thing: the Istio,
// Gateway API and Envoy Gateway field trees it ships against the projects' CRDs in shared/crds
// (a field the product knows and the CRD lacks, one the CRD has and the product does not, or a
// type, enum, required list or limit that disagrees fails), and the core kinds' tree against the
// Kubernetes models of @kubernetes/client-node, which it is made from.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as models from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";
import { CORE, KnownKinds, SHIPPED } from "../extproc/envoy-config/validate/k8s-knowledge.js";
import type { FieldSchema } from "../extproc/envoy-config/validate/k8s-schema.js";
import { crdVersions, differences } from "./support/k8s-crds.js";
import { root } from "./support/wasm.js";

const crds = crdVersions();
const shipped = SHIPPED.flatMap((file) => file.kinds.flatMap((k) => k.versions.map((version) => ({ ...k, version, source: file.source }))));
const SHIPPED_FROM_SHARED = ["istio/api", "envoyproxy/gateway"];

describe("the shipped field trees", () => {
  it("agree with the CRDs, field by field, in every kind and version", () => {
    const found: string[] = [];
    const dropped: string[] = [];
    const unmatched: string[] = [];
    let compared = 0;
    for (const k of shipped.filter((x) => SHIPPED_FROM_SHARED.some((s) => x.source.startsWith(s)))) {
      const crd = crds.find((c) => c.group === k.group && c.kind === k.kind && c.version === k.version);
      if (!crd) {
        unmatched.push(`${k.group}/${k.version} ${k.kind}`);
        continue;
      }
      found.push(...differences(k.schema as FieldSchema, crd.schema, "", dropped).map((d) => `${k.group}/${k.version} ${k.kind} ${d}`));
      compared++;
    }
    expect(found).toEqual([]);
    expect(compared).toBe(crds.length);
    // Envoy Gateway's other kinds, made from the same commit's CRDs; shared/crds does not hold them.
    expect(unmatched).toEqual(["SecurityPolicy", "Backend", "EnvoyPatchPolicy", "HTTPRouteFilter"].map((k) => `gateway.envoyproxy.io/v1alpha1 ${k}`));
    // Every pattern of these CRDs compiles in RE2, so none is left out.
    expect(dropped).toEqual([]);
  });

  it("cover every kind and version the CRDs serve", () => {
    const known = KnownKinds.builtIn();
    const missing = crds.filter((c) => !known.lookup(`${c.group}/${c.version}`, c.kind)).map((c) => `${c.group}/${c.version} ${c.kind} (${c.file})`);
    expect(missing).toEqual([]);
  });

  it("the comparison finds a field the product knows and the CRD lacks, a type that disagrees, and a field left out", () => {
    const crd = crds.find((c) => c.kind === "WasmPlugin")!;
    const tree = structuredClone(shipped.find((k) => k.kind === "WasmPlugin")!.schema) as FieldSchema;
    const spec = tree.properties!.spec.properties!;
    spec.failStratgy = { type: "string" };
    spec.priority = { type: "string", nullable: true };
    delete spec.imagePullSecret;
    spec.phase.enum = ["AUTHN", "AUTHZ"];
    expect(differences(tree, crd.schema)).toEqual([
      ".spec.failStratgy: known here, not in the CRD",
      ".spec.imagePullSecret: in the CRD, not known here",
      '.spec.phase: enum is ["AUTHN","AUTHZ"] here, ["UNSPECIFIED_PHASE","AUTHN","AUTHZ","STATS"] in the CRD',
      '.spec.priority: type is "string" here, "integer" in the CRD',
    ]);
  });

  it("name where each is from, and PrometheusRule's is prometheus-operator's published CRD", () => {
    expect(SHIPPED.map((f) => f.source)).toEqual([
      expect.stringMatching(/^@kubernetes\/client-node \d+\.\d+\.\d+ models/),
      expect.stringMatching(/^istio\/api .* @ b8f8791d/),
      expect.stringMatching(/^envoyproxy\/gateway .* @ d32f2829/),
      expect.stringMatching(/^envoyproxy\/gateway .* @ d32f2829/),
      expect.stringMatching(/^prometheus-operator\/prometheus-operator example\/prometheus-operator-crd\/monitoring\.coreos\.com_prometheusrules\.yaml @ 6adcebc5/),
    ]);
    const rule = shipped.find((k) => k.kind === "PrometheusRule")!;
    expect(`${rule.group}/${rule.version}`).toBe("monitoring.coreos.com/v1");
    const group = (rule.schema as FieldSchema).properties!.spec.properties!.groups.items!;
    expect(Object.keys(group.properties!).sort()).toEqual(["interval", "labels", "limit", "name", "partial_response_strategy", "query_offset", "rules"]);
    expect(Object.keys(group.properties!.rules.items!.properties!).sort()).toEqual(["alert", "annotations", "expr", "for", "keep_firing_for", "labels", "record"]);
  });
});

describe("the core kinds", () => {
  const table = models as unknown as Record<string, { attributeTypeMap: { baseName: string; type: string }[] }>;
  // resource.Quantity: an int-or-string in the API, a string in the models.
  const QUANTITIES = ["V1ResourceRequirements.limits", "V1ResourceRequirements.requests", "V1EmptyDirVolumeSource.sizeLimit", "V1PodSpec.overhead"];

  it("know exactly the fields of Kubernetes' models, with their types, and each kind is its model", () => {
    const found: string[] = [];
    const defs = CORE.defs!;
    for (const k of CORE.kinds) {
      const model = String((k.schema as FieldSchema).$ref).replace("#/$defs/", "");
      const fields = table[model]?.attributeTypeMap.map((f) => f.baseName) ?? [];
      if (!["apiVersion", "kind", "metadata"].every((f) => fields.includes(f))) found.push(`${k.kind}: ${model} is not a kind's model`);
      if (!model.toLowerCase().startsWith(k.versions[0]) || !model.endsWith(k.kind)) found.push(`${k.kind}: ${model} is not ${k.versions[0]} ${k.kind}`);
    }
    for (const [name, def] of Object.entries(defs)) {
      const fields = table[name].attributeTypeMap;
      const mine = Object.keys(def.properties!);
      if (JSON.stringify(mine) !== JSON.stringify(fields.map((f) => f.baseName))) found.push(`${name} has ${mine.join(",")}`);
      for (const f of fields) {
        const s = def.properties![f.baseName];
        const want = /^Array</.test(f.type) ? "array" : /^\{/.test(f.type) ? "object" : f.type === "boolean" ? "boolean" : f.type === "number" ? /integer|number/ : f.type === "IntOrString" ? "int-or-string" : /^[A-Z]/.test(f.type) && f.type !== "Date" ? "ref" : null;
        const have = s.type ?? (s.$ref ? "ref" : s["x-kubernetes-int-or-string"] ? "int-or-string" : "any");
        if (want && !(typeof want === "string" ? have === want : want.test(have))) found.push(`${name}.${f.baseName}: ${have} for ${f.type}`);
        if (f.type === "string" && have !== "string" && !QUANTITIES.includes(`${name}.${f.baseName}`)) found.push(`${name}.${f.baseName}: ${have} for a string`);
        if (s.$ref && !defs[s.$ref.replace("#/$defs/", "")]) found.push(`${name}.${f.baseName}: ${s.$ref} is not defined`);
      }
    }
    expect(found).toEqual([]);
    expect(Object.keys(defs)).toContain("V1ObjectMeta");
  });

  it("take each enum value from Kubernetes: every one is named in the field's description in the client's models", () => {
    const found: string[] = [];
    let enums = 0;
    for (const [name, def] of Object.entries(CORE.defs!)) {
      for (const [field, s] of Object.entries(def.properties!)) {
        if (!s.enum) continue;
        enums++;
        const dts = readFileSync(join(root, "node_modules/@kubernetes/client-node/dist/gen/models", `${name}.d.ts`), "utf8");
        const doc = new RegExp(`/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*'${field}'\\??:`).exec(dts)?.[1] ?? "";
        for (const v of s.enum) if (!new RegExp(`\\b${v}\\b`).test(doc)) found.push(`${name}.${field}: ${String(v)} is not in "${doc.replace(/\s*\*\s*/g, " ").trim()}"`);
      }
    }
    expect(found).toEqual([]);
    expect(enums).toBeGreaterThanOrEqual(15);
  });

  it("read a Deployment's pod template down to its containers' ports", () => {
    const defs = CORE.defs!;
    expect(defs.V1DeploymentSpec.properties!.replicas).toEqual({ type: "integer" });
    expect(defs.V1ContainerPort.properties!.containerPort).toEqual({ type: "integer" });
    expect(defs.V1ResourceRequirements.properties!.limits).toEqual({ type: "object", additionalProperties: { "x-kubernetes-int-or-string": true } });
    expect(defs.V1EmptyDirVolumeSource.properties!.sizeLimit).toEqual({ "x-kubernetes-int-or-string": true });
  });
});
