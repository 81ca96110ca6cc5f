// A benchmark server in its own process (forked with IPC): "noop" is an ext_proc server on the
// same stack (grpc-js, the same protos) that answers CONTINUE to everything; "failover" is the
// failover sidecar. It reports its port, and its RSS when asked.
import * as grpc from "@grpc/grpc-js";
import { startSidecar } from "../dist/sidecar/server.js";
import { extProcService } from "../dist/sidecar/protocol.js";
import { policy } from "./filter.mjs";

const kind = process.argv[2];
const silent = { log() {} };

async function noop() {
  const server = new grpc.Server();
  server.addService(extProcService(), {
    Process(call) {
      call.on("data", (m) => call.write({ [m.request]: m.request.endsWith("trailers") ? {} : { response: {} } }));
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, port) => (e ? reject(e) : resolve(port))));
}

async function failover() {
  const s = await startSidecar({
    policy: JSON.stringify(policy(4)),
    modulePath: new URL("../build/failover.wasm", import.meta.url).pathname,
    port: 0, adminPort: null, logger: silent, maxStreams: 100_000,
  });
  return s.port;
}

const port = kind === "noop" ? await noop() : await failover();
process.on("message", (m) => {
  if (m === "rss") {
    global.gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    process.send({ rss, heapUsed });
  }
});
process.send({ port });
process.on("SIGINT", () => process.exit(0));
