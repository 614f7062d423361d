/**
 * The browser launcher (src/browser) against a real mTLS server and Debian's Chromium: the server
 * is verified against the bundle's CA alone, the certificate reaches Chromium from memory only,
 * the child signs the console's requests (and only the console's), SSE streams through the
 * interception, renewal swaps the certificate without a reload, Playwright's SOCKS proxy admits
 * only our Chromium, the private key is in no Chromium process, and the profile is private and
 * removed. The Core here is a small Bun.serve with the Core's TLS settings and the real RFC 9421
 * verifier; the end-to-end tests against `icecore run` come with the integration.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { constants, X509Certificate, createPrivateKey } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintAuthority, mintClientIdentity, mintServerIdentity, type ClientIdentity } from "../../src/pki/authority.ts";
import { createRequestSigner, importClientKey } from "../../src/client/request-signer.ts";
import { verifyRequest } from "../../src/httpsig/verify.ts";
import { CHROMIUM_TMP, launchConsoleBrowser, type ConsoleBrowser } from "../../src/browser/console-browser.ts";
import { findChromium } from "../../src/browser/find-chromium.ts";
import { descendantsOf } from "../../src/platform/loopback-peer.ts";
import { readProcStat } from "../../src/platform/linux-proc.ts";
import { scanProcessMemory } from "../support/process-memory.ts";
import { asUser, canSwitchUsers, testUser, SWITCH_USERS_REASON } from "../support/users.ts";
import { FIXTURES, PEM_MARKERS } from "../support/paths.ts";

const HOUR = 3600_000;
const td = new TextDecoder();
const chromiumPath = (() => {
  try {
    return findChromium();
  } catch {
    return null;
  }
})();
const isRoot = process.getuid?.() === 0;

const ca = await mintAuthority();
const serverId = await mintServerIdentity(ca, { ttlMs: HOUR });
const client = await mintClientIdentity(ca, 1, { ttlMs: HOUR });
const rogueCa = await mintAuthority({ commonName: "rogue" });
const rogueServerId = await mintServerIdentity(rogueCa, { ttlMs: HOUR });
const signerOf = async (id: ClientIdentity) => createRequestSigner({ key: await importClientKey(id.keyPem), clientId: id.clientId });
const knownKeys = new Map<string, CryptoKey>([[client.clientId, client.publicKey]]);

/** One open SSE stream: the test decides when it ends. */
let endStream: (() => void) | null = null;

function coreLike(id: typeof serverId) {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 10,
    tls: { cert: Buffer.from(id.certPem), key: Buffer.from(id.keyPem), ca: Buffer.from(ca.certPem), requestCert: true, rejectUnauthorized: true, secureOptions: constants.SSL_OP_NO_TICKET },
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/") return new Response(`<!doctype html><title>core</title><p id="who">core page</p>`, { headers: { "content-type": "text/html" } });
      if (url.pathname === "/stream") {
        const encoder = new TextEncoder();
        const stream = new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode(`event: output\ndata: {"line":"first"}\nid: 1\n\n`));
            endStream = () => {
              try {
                controller.close();
              } catch {
                // the reader went away first
              }
            };
          },
        });
        return new Response(stream, { headers: { "content-type": "text/event-stream" } });
      }
      const body = new Uint8Array(await req.arrayBuffer());
      let signedBy: string | null = null;
      let error: string | null = null;
      try {
        signedBy = (await verifyRequest({ method: req.method, url: req.url, headers: req.headers, body }, { resolveKey: (k) => knownKeys.get(k) ?? Promise.reject(new Error("unknown key")) })).keyId;
      } catch (e) {
        error = (e as Error).message;
      }
      return Response.json({ method: req.method, bytes: body.length, origin: req.headers.get("origin"), signedBy, error });
    },
  });
}

const core = coreLike(serverId);
const apiUrl = `https://127.0.0.1:${core.port}`;
const foreign = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(`<!doctype html><title>foreign</title><p>foreign</p>`, { headers: { "content-type": "text/html" } }) });
const foreignOrigin = `http://127.0.0.1:${foreign.port}`;

const launches: ConsoleBrowser[] = [];
async function launch(extra: Partial<Parameters<typeof launchConsoleBrowser>[0]> = {}): Promise<ConsoleBrowser> {
  const browser = await launchConsoleBrowser({
    chromiumPath: chromiumPath!,
    apiUrl,
    caPem: ca.certPem,
    identity: { certPem: client.certPem, keyPem: client.keyPem },
    signer: await signerOf(client),
    headless: true,
    sandbox: !isRoot,
    ...extra,
  });
  launches.push(browser);
  return browser;
}

afterAll(async () => {
  for (const b of launches) await b.close();
  endStream?.();
  core.stop(true);
  foreign.stop(true);
});

/** Processes whose process group is `group`, with their state letter (Z: a zombie, already dead). */
function processesInGroup(group: number): { pid: number; state: string }[] {
  const found: { pid: number; state: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry)); // null: gone meanwhile
    if (stat?.pgrp === group) found.push({ pid: Number(entry), state: stat.state });
  }
  return found;
}

const chromiumProcesses = (browser: ConsoleBrowser) => [browser.browserPid!, ...descendantsOf(browser.browserPid!)];

describe.skipIf(chromiumPath === null)("console browser (Debian Chromium)", () => {
  let browser: ConsoleBrowser;
  const decisions: string[] = [];
  beforeAll(async () => {
    browser = await launch({ allowOrigins: [foreignOrigin], onDecision: (d) => decisions.push(`${d.method} ${d.url} ${d.verdict.sign ? "signed" : d.verdict.reason}`) });
  });

  test("the page loads over mTLS, the server verified against the bundle's CA", async () => {
    expect(await browser.page.textContent("#who")).toBe("core page");
  });

  test("a server with a certificate from another CA is refused by the proxy", async () => {
    const rogue = coreLike(rogueServerId);
    try {
      const other = await launch({ apiUrl: `https://127.0.0.1:${rogue.port}` });
      const text = await other.page.textContent("body");
      expect(text).toContain("client-certificate error");
      expect(text).not.toContain("core page");
      await other.close();
    } finally {
      rogue.stop(true);
    }
  });

  test("the console's POST and DELETE are signed over their exact bytes; a GET too", async () => {
    const binary = [...crypto.getRandomValues(new Uint8Array(2048))];
    type Echo = { signedBy: string | null; error: string | null; bytes: number };
    const r = (await browser.page.evaluate(async (binary) => {
      const json = await (await fetch("/v1/commands/x", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ args: { q: "héllo ✓" } }) })).json();
      const bin = await (await fetch("/bin", { method: "POST", body: new Uint8Array(binary) })).json();
      const del = await (await fetch("/v1/jobs/1", { method: "DELETE" })).json();
      const get = await (await fetch("/v1/audit?limit=5")).json();
      return { json, bin, del, get };
    }, binary)) as { json: Echo; bin: Echo; del: Echo; get: Echo };
    for (const answer of [r.json, r.bin, r.del, r.get]) {
      expect(answer.error).toBeNull();
      expect(answer.signedBy).toBe(client.clientId);
    }
    expect(r.bin.bytes).toBe(2048);
  });

  test("SSE streams through the interception: an event arrives while the stream is still open", async () => {
    const first = await browser.page.evaluate(
      () =>
        new Promise<string>((resolve, reject) => {
          // Runs in the page; bun-types' EventSource signature does not apply there.
          const es = new (globalThis as any).EventSource("/stream");
          es.addEventListener("output", (e: { data: string }) => {
            es.close();
            resolve(e.data);
          });
          setTimeout(() => reject(new Error("no event within 10 s")), 10_000);
        }),
    );
    expect(first).toBe('{"line":"first"}');
    expect(endStream).not.toBeNull(); // the server never ended the stream: the event was streamed, not buffered
  });

  test("a page from another origin in the same browser does not get its requests signed", async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(foreignOrigin + "/");
      await page.evaluate(async (core) => {
        await fetch(core + "/v1/commands/x", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: "{}" }).catch(() => {});
      }, apiUrl);
      await page.waitForTimeout(0);
    } finally {
      await page.close();
    }
    const foreignPost = decisions.find((d) => d.startsWith(`POST ${apiUrl}/v1/commands/x initiated by ${foreignOrigin}`));
    expect(foreignPost).toBeDefined();
    // Control: the console's own POST was signed.
    expect(decisions).toContain(`POST ${apiUrl}/v1/commands/x signed`);
  });

  test("other origins are blocked unless allowed (Chromium ignores certificate errors in this context)", async () => {
    const strict = await launch();
    const outcome = await strict.page.evaluate((url) => fetch(url).then(() => "loaded", () => "blocked"), foreignOrigin + "/");
    expect(outcome).toBe("blocked");
    await strict.close();
  });

  test("no PEM or key in Chromium's argv or environment", () => {
    const keyB64 = pemBody(client.keyPem).slice(0, 40);
    for (const pid of chromiumProcesses(browser)) {
      for (const file of ["cmdline", "environ"]) {
        let text: string;
        try {
          text = readFileSync(`/proc/${pid}/${file}`, "latin1");
        } catch {
          continue; // exited meanwhile
        }
        for (const marker of PEM_MARKERS) expect(text).not.toContain(marker);
        expect(text).not.toContain(keyB64);
      }
    }
  });

  test.skipIf(!isRoot)("the private key is in no Chromium process's memory (and is found in ours: the scanner works)", () => {
    const needles = keyNeedles(client);
    const own = scanProcessMemory(process.pid, needles);
    expect(own.hits["pem-line"]! + own.hits["d-raw"]!).toBeGreaterThan(0);
    const pids = chromiumProcesses(browser);
    expect(pids.length).toBeGreaterThan(1);
    for (const pid of pids) {
      const scan = scanProcessMemory(pid, needles);
      if (scan.error) continue; // exited meanwhile
      expect(scan.bytesRead).toBeGreaterThan(0);
      expect({ pid, hits: scan.hits }).toEqual({ pid, hits: { "pem-line": 0, "pem-head": 0, "d-raw": 0, "d-b64url": 0 } });
    }
  }, 60_000);

  test("the profile directory is private and holds no PEM or key; Chromium's temporary files are inside it", () => {
    expect(statSync(browser.profileDir).mode & 0o777).toBe(0o700);
    // Chromium's singleton socket lives in its TMPDIR (org.chromium.Chromium.*), linked from the
    // profile: inside the profile, it is removed with it instead of piling up in /tmp.
    const singleton = readlinkSync(join(browser.profileDir, "SingletonSocket"));
    expect(singleton.startsWith(join(browser.profileDir, CHROMIUM_TMP) + "/")).toBe(true);
    const keyB64 = pemBody(client.keyPem).slice(0, 40);
    for (const file of walk(browser.profileDir)) {
      let text: string;
      try {
        text = readFileSync(file, "latin1");
      } catch {
        continue;
      }
      for (const marker of PEM_MARKERS) expect(text).not.toContain(marker);
      expect(text).not.toContain(keyB64);
    }
  });

  test.skipIf(!canSwitchUsers)("Playwright's SOCKS proxy refuses another user and an orphaned process; our Chromium still works", async () => {
    const other = testUser("icecore-e2e-other")!;
    // Asynchronous on purpose: the proxy lives in this process, so a spawnSync would stall it.
    const curlThrough = async (argv: string[]) => {
      const run = Bun.spawn(argv, { stdout: "pipe", stderr: "ignore" });
      const out = await new Response(run.stdout).text();
      await run.exited;
      return out;
    };
    const viaSocks = ["curl", "-sS", "-k", "--max-time", "5", "--socks5", `127.0.0.1:${browser.socksPort}`, apiUrl + "/v1/audit"];
    expect(await curlThrough(asUser(other, viaSocks))).toBe("");
    // Same uid but not our descendant: a process orphaned by its parent (re-parented away from us).
    const orphanOut = join(browser.profileDir, "..", `orphan-${process.pid}.txt`);
    await Bun.spawn(["sh", "-c", `(${viaSocks.map((a) => `'${a}'`).join(" ")} > ${orphanOut} 2>&1; echo "exit $?" >> ${orphanOut}) & exit 0`]).exited;
    let orphan = "";
    for (let i = 0; i < 150 && !orphan.includes("exit "); i++) {
      await Bun.sleep(100);
      orphan = existsSync(orphanOut) ? readFileSync(orphanOut, "utf8") : "";
    }
    Bun.spawnSync(["rm", "-f", orphanOut]);
    expect(orphan).toContain("exit ");
    expect(orphan).not.toContain("signedBy");
    // Control: the console still reaches the Core.
    const still = (await browser.page.evaluate(() => fetch("/v1/audit").then((r) => r.json()))) as { signedBy: string };
    expect(still.signedBy).toBe(client.clientId);
  }, 30_000);
});

describe.skipIf(chromiumPath === null)("renewal and the end of the browser", () => {
  test("renew(): new TLS connections present the new certificate and requests carry the new keyid, without a reload", async () => {
    const node = Bun.spawn(["node", join(FIXTURES, "peer-cert-server.mjs")], { stdin: "pipe", stdout: "pipe" });
    try {
      node.stdin.write(JSON.stringify({ cert: td.decode(serverId.certPem), key: td.decode(serverId.keyPem), ca: td.decode(ca.certPem) }));
      node.stdin.end();
      const lines = node.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      const nextLine = async (): Promise<any> => {
        for (;;) {
          const i = buffered.indexOf("\n");
          if (i >= 0) {
            const line = buffered.slice(0, i);
            buffered = buffered.slice(i + 1);
            return JSON.parse(line);
          }
          const { value, done } = await lines.read();
          if (done) throw new Error("peer-cert server ended");
          buffered += value;
        }
      };
      const { port } = await nextLine();
      const fingerprint = (id: ClientIdentity) => new X509Certificate(Buffer.from(id.certPem)).fingerprint256;
      const browser = await launch({ apiUrl: `https://127.0.0.1:${port}`, path: "/first" });
      expect((await nextLine()).fingerprint).toBe(fingerprint(client));
      const renewed = await mintClientIdentity(ca, 2, { ttlMs: HOUR });
      browser.renew({ certPem: renewed.certPem, keyPem: renewed.keyPem }, await signerOf(renewed));
      let navigations = 0;
      browser.page.on("framenavigated", () => navigations++);
      await browser.page.evaluate(() => fetch("/after-renewal").then((r) => r.text()));
      let seen;
      do seen = await nextLine();
      while (seen.url !== "/after-renewal");
      expect(seen.fingerprint).toBe(fingerprint(renewed));
      expect(navigations).toBe(0);
      await browser.close();
    } finally {
      node.kill();
    }
  });

  test("a profile left by a killed child is removed by the next one; a live child's is kept", async () => {
    const parent = mkdtempSync(join(tmpdir(), "icecore-profiles-"));
    try {
      const gone = Bun.spawn(["true"]);
      await gone.exited;
      const stale = join(parent, `icecore-browser-${gone.pid}-AbCdEf`);
      const live = join(parent, `icecore-browser-${process.ppid}-GhIjKl`);
      for (const dir of [stale, live]) {
        mkdirSync(join(dir, "Default"), { recursive: true, mode: 0o700 });
        writeFileSync(join(dir, "Default", "Cookies"), "");
      }
      const browser = await launch({ profileParent: parent });
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(browser.profileDir.startsWith(join(parent, `icecore-browser-${process.pid}-`))).toBe(true);
      await browser.close();
      expect(existsSync(browser.profileDir)).toBe(false);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  test("closing the console page ends the session and removes the profile", async () => {
    const browser = await launch();
    const profile = browser.profileDir;
    await browser.page.close();
    expect(await browser.closed).toBe("page_closed");
    expect(existsSync(profile)).toBe(false);
  });

  test("the browser process dying (SIGKILL) ends the session as browser_died and removes the profile", async () => {
    const browser = await launch();
    const profile = browser.profileDir;
    process.kill(browser.browserPid!, "SIGKILL");
    expect(await browser.closed).toBe("browser_died");
    expect(await browser.browserExit).toEqual({ code: null, signal: "SIGKILL" });
    expect(existsSync(profile)).toBe(false);
  });

  test("a Chromium helper that outlives the browser (here: stopped) is ended before the profile is removed", async () => {
    const browser = await launch();
    const group = browser.browserPid!;
    // Chromium's helpers, in its process group (src/browser/console-browser.ts endHelpers).
    const members = () => processesInGroup(group).filter((p) => p.pid !== group);
    const helper = members().find((p) => p.state !== "Z");
    expect(helper).toBeDefined();
    // A stopped helper cannot exit on its own when the browser goes: like a hung or still
    // flushing one, only a signal from outside ends it.
    process.kill(helper!.pid, "SIGSTOP");
    try {
      process.kill(group, "SIGKILL");
      expect(await browser.closed).toBe("browser_died");
      expect(members().filter((p) => p.pid === helper!.pid && p.state !== "Z")).toEqual([]);
      expect(existsSync(browser.profileDir)).toBe(false);
    } finally {
      try {
        process.kill(helper!.pid, "SIGKILL");
      } catch {
        // ended by the browser's cleanup, as it should be
      }
    }
  });

  test("Chromium ending cleanly (SIGTERM, as when its last window closes) ends the session, not as a death", async () => {
    const browser = await launch();
    const profile = browser.profileDir;
    process.kill(browser.browserPid!, "SIGTERM");
    // browser_closed, or page_closed when Chromium's page-close message outran its exit: both end the child with 0.
    expect(["browser_closed", "page_closed"]).toContain(await browser.closed);
    expect(await browser.browserExit).toEqual({ code: 0, signal: null });
    expect(existsSync(profile)).toBe(false);
  });
});

function pemBody(pem: Uint8Array): string {
  return td.decode(pem).split("\n").filter((l) => l && !l.startsWith("-----")).join("");
}

/** The key as it could sit in memory: PEM base64 (a line, and the start), the raw scalar d, d in base64url (JWK). */
function keyNeedles(id: ClientIdentity): Record<string, Uint8Array> {
  const lines = td.decode(id.keyPem).split("\n").filter((l) => l && !l.startsWith("-----"));
  const jwk = createPrivateKey(Buffer.from(id.keyPem)).export({ format: "jwk" }) as { d: string };
  const enc = new TextEncoder();
  return {
    "pem-line": enc.encode(lines[1]!),
    "pem-head": enc.encode(lines[0]!.slice(0, 48)),
    "d-raw": new Uint8Array(Buffer.from(jwk.d, "base64url")),
    "d-b64url": enc.encode(jwk.d),
  };
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}
