// The admin HTTP endpoint (loopback by default): liveness, readiness, Prometheus metrics and the
// live plan of every locality (scores, ejections, the split each route is using).

import { createServer, type Server } from "node:http";

export interface AdminHandlers {
  ready(): boolean;
  metrics(): Promise<string>;
  clusters(): unknown;
}

export function adminServer(h: AdminHandlers): Server {
  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
    switch (path) {
      case "/healthz":
        return send(200, "text/plain", "ok\n");
      case "/readyz":
        return h.ready() ? send(200, "text/plain", "ready\n") : send(503, "text/plain", "not ready\n");
      case "/metrics":
        h.metrics().then(
          (text) => send(200, "text/plain; version=0.0.4; charset=utf-8", text),
          (e: Error) => send(500, "text/plain", `${e.message}\n`),
        );
        return;
      case "/debug/clusters":
        return send(200, "application/json", JSON.stringify(h.clusters(), null, 2) + "\n");
      default:
        return send(404, "text/plain", "not found: try /healthz, /readyz, /metrics, /debug/clusters\n");
    }
  });
}
