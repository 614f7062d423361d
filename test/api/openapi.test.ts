/** SPEC §5: GET /v1/openapi.json is OpenAPI 3.1 generated from the schemas that validate requests. */
import { expect, test } from "bun:test";
import { buildOpenApi } from "../../src/api/openapi.ts";
import { builtinCatalogue } from "../../src/commands/catalogue.ts";
import { describeCommands } from "../../src/commands/policy-loader.ts";
import { validateArgs } from "../../src/commands/argv-builder.ts";
import { canSwitchUsers, testUser } from "../support/users.ts";
import { fixtureChild, startIcecore } from "../support/icecore-process.ts";

type Doc = { openapi: string; paths: Record<string, any>; components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> } };

test("the document is OpenAPI 3.1 and each command's args schema is the one that validates it", () => {
  const catalogue = builtinCatalogue();
  const doc = buildOpenApi({ apiUrl: "https://127.0.0.1:1", catalogue }) as unknown as Doc;
  expect(doc.openapi).toBe("3.1.0");
  expect(doc.components.securitySchemes).toHaveProperty("mutualTLS");
  for (const path of ["/v1/health", "/v1/info", "/v1/commands", "/v1/commands/{name}", "/v1/jobs/{id}", "/v1/jobs/{id}/events", "/v1/openapi.json"]) {
    expect(doc.paths).toHaveProperty([path]);
  }
  for (const { name, args } of describeCommands(catalogue).commands) {
    const op = doc.paths[`/v1/commands/${name}`].post;
    expect(op.requestBody.content["application/json"].schema.properties.args).toEqual(args);
    expect(op.parameters.map((p: { name: string }) => p.name)).toEqual(["Signature-Input", "Signature"]);
  }
  // The published constraint is the enforced one: a value the schema's pattern refuses is refused.
  const mount = describeCommands(catalogue).commands.find((c) => c.name === "disk.mount")!;
  const pattern = (mount.args as { properties: { device: { pattern: string } } }).properties.device.pattern;
  expect(new RegExp(pattern).test("/dev/sda1")).toBe(true);
  expect(new RegExp(pattern).test("/etc/passwd")).toBe(false);
  expect(() => validateArgs(catalogue.get("disk.mount")!, { device: "/etc/passwd" })).toThrow();
  expect(validateArgs(catalogue.get("disk.mount")!, { device: "/dev/sda1" })).toEqual({ device: "/dev/sda1" });
});

test("GET /v1/openapi.json through the real server answers the document", async () => {
  const run = startIcecore({ user: canSwitchUsers ? testUser("icecore-e2e") : null, child: fixtureChild("--get", "/v1/openapi.json") });
  expect((await run.exited).code).toBe(0);
  const { get } = run.fixtureReports()[0] as { get: { status: number; body: Doc } };
  expect(get.status).toBe(200);
  expect(get.body.openapi).toBe("3.1.0");
  expect(Object.keys(get.body.paths)).toContain("/v1/commands/package.install");
});
