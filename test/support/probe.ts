// Test support: one request through the probe fixture (assembly/fixtures/probe.ts), whose
// `x-probe` request headers name the actions to run and whose results come back as
// `x-probe-result` response headers.
import { PluginVm } from "../../extproc/host/index.js";

/** Runs one request through the probe with the given actions; returns the stream and results. */
export function probe(vm: PluginVm, actions: string[], extraHeaders: [string, string][] = [], properties = {}) {
  const s = vm.createStream(properties);
  const request: [string, string][] = [
    [":method", "GET"], [":path", "/"], [":authority", "example.com"], [":scheme", "http"],
    ...extraHeaders, ...actions.map((a) => ["x-probe", a] as [string, string]),
  ];
  const req = s.sendRequestHeaders(request, true);
  let resp = undefined;
  if (!req.localReply) resp = s.sendResponseHeaders([[":status", "200"]], true, { response: { code: 200 } });
  return { s, req, resp, results: s.responseHeaders.getAll("x-probe-result") };
}

export const config = (c: object) => JSON.stringify(c);
