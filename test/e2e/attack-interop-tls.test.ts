/**
 * Issue 12 item 1, through the compiled executable running as an unprivileged user:
 *  - a maintained RFC 9421 library from the npm registry (`http-message-signatures`), with its
 *    default parameters (no nonce; alg from its signer, or none), gets 200; unknown key, stale
 *    and a replay of the same request (or of its ECDSA twin) still get their own codes;
 *  - TLS 1.2 offers AEAD suites only: a client limited to CBC suites is refused at the
 *    handshake although it presents a valid client certificate; an AEAD suite works.
 * (The Python `http-message-signatures` cannot be installed here: PyPI is unreachable.)
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BUN, FIXTURES } from "../support/paths.ts";
import { canSwitchUsers, scratchDir, testUser } from "../support/users.ts";
import { readAudit, startIcecore } from "../support/icecore-process.ts";
import { recordCommand, writePolicy } from "./test-commands.ts";

const owner = canSwitchUsers ? testUser("icecore-e2e") : null;

test("item 1: http-message-signatures (npm) with its defaults gets 200; unknown key, stale, other alg and replays keep their codes and run nothing", async () => {
  const dir = scratchDir(owner, "interop");
  const markers = scratchDir(owner, "interop-markers");
  const run = startIcecore({ user: owner, dir, args: ["--policy", writePolicy(dir, { "test.record": recordCommand(markers) })], child: [BUN, join(FIXTURES, "rfc9421-interop.ts"), markers] });
  const { code } = await run.exited;
  expect({ code, errors: run.errors }).toEqual({ code: 0, errors: [] });
  const results = run.fixtureReports()[0] as Record<string, { status: number; code: string | null; input: string }>;

  // What the library sent on its own: keyid, alg, created, expires; no nonce.
  expect(results.library_defaults!.input).toMatch(/^sig=\("@method" "@target-uri" "content-digest"\);keyid="[0-9a-f]{64}";alg="ecdsa-p256-sha256";created=\d+;expires=\d+$/);
  expect(results.library_no_alg!.input).toMatch(/^sig=\("@method" "@target-uri" "content-digest"\);keyid="[0-9a-f]{64}";created=\d+;expires=\d+$/);
  const expected: Record<string, [number, string | null]> = {
    library_defaults: [200, null],
    library_no_alg: [200, null],
    other_alg: [401, "signature_invalid"],
    unknown_key: [401, "unknown_client"],
    stale: [401, "stale"],
    replayed_defaults: [401, "replayed"],
    replayed_no_alg: [401, "replayed"],
    replayed_twin: [401, "replayed"],
  };
  for (const [name, [status, problem]] of Object.entries(expected)) {
    expect({ name, status: results[name]!.status, code: results[name]!.code }).toEqual({ name, status, code: problem });
  }
  for (const ran of ["library_defaults", "library_no_alg"]) expect(existsSync(join(markers, ran))).toBe(true);
  for (const refused of ["other_alg", "unknown_key", "stale"]) expect({ refused, ran: existsSync(join(markers, refused)) }).toEqual({ refused, ran: false });
  // The replays ran nothing either: exactly two commands started, six refused.
  const commands = readAudit(run.auditPath).filter((r) => r.event === "command");
  expect(commands.filter((r) => r.outcome === "started")).toHaveLength(2);
  expect(commands.filter((r) => r.outcome === "refused").map((r) => r.code).sort()).toEqual(
    ["replayed", "replayed", "replayed", "signature_invalid", "stale", "unknown_client"],
  );
}, 30_000);

test("item 1: TLS 1.2 CBC suites are refused at the handshake despite a valid client certificate; AEAD suites work", async () => {
  // The ECDHE-ECDSA CBC suites are the ones our ECDSA server key could ever negotiate;
  // AES128-SHA (RSA key transport) is listed too because the issue names it.
  const cbc = ["ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384", "AES128-SHA"];
  const aead = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"];
  const run = startIcecore({ user: owner, child: [BUN, join(FIXTURES, "tls-suites.ts"), ...aead, ...cbc] });
  expect((await run.exited).code).toBe(0);
  const results = run.fixtureReports()[0] as Record<string, { handshake: boolean; cipher: string | null; protocol: string | null; alert: number | null }>;
  for (const suite of aead) expect({ suite, ...results[suite] }).toMatchObject({ suite, handshake: true, cipher: suite, protocol: "TLSv1.2" });
  // handshake_failure (40): the server found no suite it accepts in the ClientHello.
  for (const suite of cbc) expect({ suite, ...results[suite] }).toMatchObject({ suite, handshake: false, alert: 40 });
}, 30_000);
