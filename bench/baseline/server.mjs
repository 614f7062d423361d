// The bench's baseline: plain Node `https.createServer` with mandatory client certificates and a
// Hono app (through @hono/node-server's getRequestListener) that does for GET /v1/health the
// same per-request work as icecore's API: Host check (421), Origin/Referer check (403), the same
// security headers, one JSON `request` log line on stderr, and `{"status":"ok"}`.
//
// Plain JavaScript so that Node 20 runs it as is. TLS material arrives as one JSON object on
// stdin: {"ca","cert","key"} (PEM). Prints on stdout one JSON line when listening
// ({"event":"listening","port","uptime_ms"}) and one when stopped by SIGTERM/SIGINT
// ({"event":"stopped","tls_handshakes","tls_resumed","requests"}).
import https from "node:https";
import { Hono } from "hono";
import { getRequestListener } from "@hono/node-server";

const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

function problem(c, status, code, title, detail) {
  const body = { type: `https://icecore.invalid/problems/${code}`, title, status, detail, code };
  return c.body(JSON.stringify(body), status, { "Content-Type": "application/problem+json" });
}

function createApp(port) {
  const allowedHosts = new Set([`127.0.0.1:${port}`, `[::1]:${port}`, `localhost:${port}`]);
  const app = new Hono();
  let requests = 0;
  app.use(async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      requests++;
      process.stderr.write(
        JSON.stringify({
          ts: new Date().toISOString(),
          uptime_ms: Number(performance.now().toFixed(3)),
          event: "request",
          method: c.req.method,
          path: c.req.path,
          status: c.res.status,
          ms: Number((performance.now() - started).toFixed(2)),
          client_id: null,
        }) + "\n",
      );
    }
  });
  app.use(async (c, next) => {
    await next();
    const headers = c.res.headers;
    headers.set("X-Content-Type-Options", "nosniff");
    headers.set("X-Frame-Options", "DENY");
    if (!headers.has("Content-Security-Policy")) headers.set("Content-Security-Policy", API_CSP);
    headers.set("Referrer-Policy", "no-referrer");
    headers.set("Cache-Control", headers.get("Cache-Control") ?? "no-store");
    for (const name of [...headers.keys()]) if (name.startsWith("access-control-")) headers.delete(name);
  });
  app.use(async (c, next) => {
    const host = c.req.header("host");
    if (host === undefined || !allowedHosts.has(host.toLowerCase())) {
      return problem(c, 421, "misdirected_request", "Misdirected Request", "the Host header does not name this API");
    }
    const own = `https://${host.toLowerCase()}`;
    const origin = c.req.header("origin");
    const referer = c.req.header("referer");
    let refererOrigin = null;
    try {
      refererOrigin = referer === undefined ? own : new URL(referer).origin.toLowerCase();
    } catch {}
    if ((origin !== undefined && origin.toLowerCase() !== own) || refererOrigin !== own) {
      return problem(c, 403, "foreign_origin", "Forbidden", "requests from other origins are refused");
    }
    await next();
  });
  app.get("/v1/health", (c) => c.json({ status: "ok" }));
  app.notFound((c) => problem(c, 404, "not_found", "Not Found", "no such resource"));
  return { app, requestCount: () => requests };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const tls = await readStdin();
let handshakes = 0;
let resumed = 0;
let counter = () => 0;
let listener = null;
const server = https.createServer(
  { key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
  (req, res) => listener(req, res),
);
server.on("secureConnection", (socket) => {
  handshakes++;
  if (socket.isSessionReused()) resumed++;
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  const { app, requestCount } = createApp(port);
  listener = getRequestListener(app.fetch);
  counter = requestCount;
  process.stdout.write(JSON.stringify({ event: "listening", port, uptime_ms: Number(performance.now().toFixed(3)) }) + "\n");
});

const stop = () => {
  process.stdout.write(JSON.stringify({ event: "stopped", tls_handshakes: handshakes, tls_resumed: resumed, requests: counter() }) + "\n");
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
