// A sidecar's /metrics as Prometheus series (parse-prometheus-text-format), for tests that look
// metrics and labels up by name.
import parsePrometheusTextFormat from "parse-prometheus-text-format";

export interface Family {
  name: string;
  type: string;
  help: string;
  metrics: { labels?: Record<string, string>; value?: string }[];
}

export const parseMetrics = (text: string): Family[] => parsePrometheusTextFormat(text) as Family[];

/** The value of the series `name{labels}` (labels exactly), or undefined. */
export function sample(families: Family[], name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((f) => f.name === name);
  const same = (l: Record<string, string> = {}) =>
    Object.keys(l).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => l[k] === v);
  const m = family?.metrics.find((s) => same(s.labels));
  return m?.value === undefined ? undefined : Number(m.value);
}

/** Every sample name of an exposition (histograms as `_bucket`, `_sum`, `_count`) and its label names. */
export function sampleLabels(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s/.exec(line);
    if (!m) continue;
    const labels = out.get(m[1]) ?? new Set<string>();
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) labels.add(l[1]);
    out.set(m[1], labels);
  }
  return out;
}
