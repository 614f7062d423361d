/**
 * The contract is the code (SPEC §5; issue "one contract, typed end to end"): GET /v1/openapi.json
 * is generated from the route declarations, passes `redocly lint` with no warning, and EVERY route
 * answers what the document says: each response below is validated against the schema the
 * document gives for its path, method, status and media type. A route added without a case here
 * fails the coverage check.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { catalogueOf } from "../commands/helpers.ts";
import { describeCommands } from "../../src/commands/policy-loader.ts";
import { createCoreClient, type CoreClient } from "../../src/client/core-client.ts";
import { bundleOf, startPkiFixture, tlsRequest, type PkiFixture } from "../support/pki-fixture.ts";
import { BUN, FIXTURES } from "../support/paths.ts";

type Operation = { parameters?: { name: string; in: string }[]; responses: Record<string, { content?: Record<string, { schema: object }> }> };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

let fx: PkiFixture;
let client: CoreClient;
let doc: Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const catalogue = catalogueOf(
  {
    "t.echo": { description: "prints its text", executable: "/usr/bin/echo", argv: ["{text}"], params: { text: { type: "string", maxLength: 64 } } },
    "t.job": { description: "a long one", executable: BUN, argv: [join(FIXTURES, "commands/print-lines.ts"), "{n}"], params: { n: { type: "integer", min: 1, max: 5 } }, long: true },
  },
  "extend",
);

beforeAll(async () => {
  fx = await startPkiFixture({ catalogue });
  client = await createCoreClient(bundleOf(fx));
  const response = await client.api.v1["openapi.json"].$get();
  doc = (await response.json()) as Doc;
});

afterAll(async () => {
  await fx?.stop();
});

/** Checks `response` against the document; returns the body. */
async function conforms(path: string, method: string, response: Response): Promise<unknown> {
  const op = doc.paths[path]?.[method];
  expect(op, `${method} ${path} is documented`).toBeDefined();
  const documented = op!.responses[String(response.status)];
  expect(documented, `${method} ${path} documents status ${response.status}`).toBeDefined();
  const type = (response.headers.get("content-type") ?? "").split(";")[0]!;
  const media = documented!.content?.[type];
  expect(media, `${method} ${path} ${response.status} documents ${type}`).toBeDefined();
  const text = await response.text();
  if (type === "text/event-stream" || type === "text/html" || type === "text/css" || type === "text/javascript") return text;
  const body = JSON.parse(text);
  const validate = ajv.compile(media!.schema);
  if (!validate(body)) throw new Error(`${method} ${path} ${response.status}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 500)}`);
  return body;
}

describe("the document", () => {
  test("OpenAPI 3.1 with every route, the signature headers on signed ones, each command's own args schema", () => {
    expect(doc.openapi).toBe("3.1.0");
    for (const path of ["/", "/v1/health", "/v1/info", "/v1/commands", "/v1/jobs/{id}", "/v1/jobs/{id}/events", "/v1/events", "/v1/identity/renew", "/v1/audit", "/v1/openapi.json"]) {
      expect(doc.paths).toHaveProperty([path]);
    }
    for (const [path, method] of [["/v1/events", "get"], ["/v1/jobs/{id}", "delete"], ["/v1/identity/renew", "post"], ["/v1/audit", "get"]] as const) {
      expect(doc.paths[path]![method]!.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(["Signature-Input", "Signature"]));
    }
    for (const { name, args } of describeCommands(catalogue).commands) {
      const op = doc.paths[`/v1/commands/${name}`]!.post as unknown as { requestBody: { content: Record<string, { schema: { properties: { args: unknown } } }> } };
      expect(op.requestBody.content["application/json"]!.schema.properties.args).toEqual(args);
      expect(Object.keys(op.requestBody.content)).toEqual(["application/json", "application/jose"]);
    }
  });

  test("redocly lint: no error and no warning (recommended rules)", () => {
    const scratch = mkdtempSync(join(tmpdir(), "icecore-openapi-"));
    try {
      const file = join(scratch, "openapi.json");
      writeFileSync(file, JSON.stringify(doc));
      const lint = Bun.spawnSync(["node", join(import.meta.dir, "../../node_modules/@redocly/cli/bin/cli.js"), "lint", file, "--format=json"], { stdout: "pipe", stderr: "pipe" });
      const report = JSON.parse(lint.stdout.toString()) as { totals: { errors: number; warnings: number }; problems: unknown[] };
      expect(report.problems).toEqual([]);
      expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
      expect(lint.exitCode).toBe(0);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe("every route answers what the document says", () => {
  const covered = new Set<string>();
  const check = async (path: string, method: string, response: Response) => {
    covered.add(`${method} ${path}`);
    return conforms(path, method, response);
  };

  test("status, commands, jobs, audit, identity, events, console, errors", async () => {
    const { api } = client;
    await check("/v1/health", "get", (await api.v1.health.$get()) as unknown as Response);
    await check("/v1/info", "get", (await api.v1.info.$get()) as unknown as Response);
    await check("/v1/commands", "get", (await api.v1.commands.$get()) as unknown as Response);
    await check("/v1/openapi.json", "get", (await api.v1["openapi.json"].$get()) as unknown as Response);
    // Per-command routes: 200, 422, and the generic one's 404.
    await check("/v1/commands/t.echo", "post", await client.fetch("/v1/commands/t.echo", { method: "POST", body: JSON.stringify({ args: { text: "hi" } }) }));
    await check("/v1/commands/t.echo", "post", await client.fetch("/v1/commands/t.echo", { method: "POST", body: JSON.stringify({ args: { text: 5 } }) }));
    await check("/v1/commands/system.info", "post", await client.fetch("/v1/commands/system.info", { method: "POST", body: JSON.stringify({ args: {} }) }));
    const started = await client.fetch("/v1/commands/t.job", { method: "POST", body: JSON.stringify({ args: { n: 3 } }) });
    const { job_id } = (await check("/v1/commands/t.job", "post", started)) as { job_id: string };
    await check("/v1/jobs/{id}/events", "get", await client.fetch(`/v1/jobs/${job_id}/events`));
    await check("/v1/jobs/{id}", "get", await client.fetch(`/v1/jobs/${job_id}`));
    await check("/v1/jobs/{id}", "delete", await client.fetch(`/v1/jobs/${job_id}`, { method: "DELETE" }));
    await check("/v1/jobs/{id}", "get", await client.fetch(`/v1/jobs/${"0".repeat(32)}`));
    await check("/v1/audit", "get", await client.fetch("/v1/audit?limit=5"));
    await check("/v1/audit", "get", await client.fetch("/v1/audit?limit=0"));
    await check("/v1/info", "get", await client.fetch("/v1/info"));
    // Unsigned where a signature is required: 401.
    const unsigned = await tlsRequest({ port: fx.port, ca: fx.caPem, ...fx.clientTls, path: "/v1/audit" });
    expect(unsigned.status).toBe(401);
    await check("/v1/audit", "get", new Response(unsigned.body, { status: 401, headers: unsigned.headers }));
    // The console (page and assets, or 404 in a build without them).
    await check("/", "get", await client.fetch("/"));
    await check("/console/{file}", "get", await client.fetch("/console/nope.js"));
    // Renewal: 200 with a new certificate; the events stream opens (then is closed by us).
    const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    await check("/v1/identity/renew", "post", await client.fetch("/v1/identity/renew", { method: "POST", body: JSON.stringify({ public_key: { kty, crv, x, y } }) }));
    await check("/v1/identity/renew", "post", await client.fetch("/v1/identity/renew", { method: "POST", body: JSON.stringify({ public_key: { kty: "RSA" } }) }));
    const abort = new AbortController();
    const events = await client.fetch("/v1/events", { signal: abort.signal });
    covered.add("get /v1/events");
    expect(events.status).toBe(200);
    expect(events.headers.get("content-type")).toStartWith("text/event-stream");
    expect(doc.paths["/v1/events"]!.get!.responses["200"]!.content).toHaveProperty(["text/event-stream"]);
    abort.abort();
  });

  test("coverage: every documented operation was exercised above", () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter((m) => m !== "parameters").map((m) => `${m} ${path}`));
    const commandPaths = describeCommands(catalogue).commands.map((c) => `post /v1/commands/${c.name}`);
    const missing = documented.filter((op) => !covered.has(op) && !commandPaths.includes(op));
    expect(missing).toEqual([]);
  });
});

describe("405 with Allow for a method a path does not take (RFC 9110 §15.5.6)", () => {
  test.each([
    ["PUT", "/v1/health", "GET, HEAD"],
    ["DELETE", "/v1/commands", "GET, HEAD"],
    ["GET", "/v1/commands/system.info", "POST"],
    ["PATCH", "/v1/jobs/0123", "DELETE, GET, HEAD"],
    ["POST", "/v1/events", "GET, HEAD"],
  ])("%s %s → 405, Allow: %s", async (method, path, allow) => {
    const response = await tlsRequest({ port: fx.port, ca: fx.caPem, ...fx.clientTls, method, path });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe(allow);
    expect(JSON.parse(response.body).code).toBe("method_not_allowed");
  });

  test("control: an unknown path is still 404", async () => {
    expect((await tlsRequest({ port: fx.port, ca: fx.caPem, ...fx.clientTls, path: "/v1/nope" })).status).toBe(404);
  });
});
