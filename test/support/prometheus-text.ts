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
