// What a PromQL expression reads: its metric names and every label name it matches or groups by,
// from Prometheus' own grammar (@prometheus-io/lezer-promql).
import { parser } from "@prometheus-io/lezer-promql";

export interface PromqlUse {
  metrics: string[];
  labels: string[];
}

export function promqlUses(expr: string): PromqlUse {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  const cursor = parser.parse(expr).cursor();
  do {
    if (cursor.type.isError) throw new Error(`PromQL syntax error at ${cursor.from} in: ${expr}`);
    const text = expr.slice(cursor.from, cursor.to);
    if (cursor.name === "Identifier" && cursor.node.parent?.name === "VectorSelector") metrics.add(text);
    if (cursor.name === "LabelName") labels.add(text);
  } while (cursor.next());
  return { metrics: [...metrics], labels: [...labels] };
}

/** A Grafana query as Prometheus would get it: the dashboard's variables filled in. */
export const grafanaToPromql = (expr: string) => expr.replaceAll("$__rate_interval", "5m").replace(/\$\{?job\}?/g, ".*");
