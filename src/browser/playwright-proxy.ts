/**
 * The one place that reaches into playwright-core's internals (pinned at 1.65.1; re-check on every
 * upgrade: test/browser/console-browser.test.ts fails if these shapes move).
 *
 * With `clientCertificates`, Playwright points Chromium at an in-process SOCKS proxy
 * (socksClientCertificatesInterceptor) that terminates Chromium's TLS with a throw-away
 * certificate and opens its own TLS connection to the origin with the client certificate. Three
 * things it does not offer and we need (docs/browser-notes.md has the evidence):
 *  1. Server verification against OUR CA: it builds `tls.createSecureContext({cert, key})` once per
 *     context and verifies the server against the default trust store, which does not know the
 *     bundle's CA. The context is looked up in `secureContextMap` on EVERY new connection, so we
 *     replace the entry with one that also carries `ca` (from memory) — never ignoreHTTPSErrors.
 *  2. Renewal (SPEC §3): replacing the entry again with a new certificate and key makes every
 *     NEW TLS connection present the new certificate, without a new BrowserContext (no reload).
 *  3. Its SOCKS listener on 127.0.0.1 has no authentication: any local process could relay through
 *     it and reach the Core with our client certificate. `socksServer` is handed to the guard
 *     (proxy-guard.ts) that admits only our own Chromium.
 */
import type { BrowserContext } from "playwright-core";
import type { Server, Socket } from "node:net";
import { createSecureContext, type SecureContext } from "node:tls";

export interface ClientIdentityPem {
  certPem: Uint8Array | string;
  keyPem: Uint8Array | string;
}

export interface CoreProxyHandle {
  /** Use this certificate and key for every new TLS connection to the Core from now on. */
  renew(identity: ClientIdentityPem): void;
  /** Playwright's SOCKS listener, for the peer guard. */
  readonly socksServer: Server;
  readonly socksPort: number;
}

interface ProxyInternals {
  secureContextMap: Map<string, SecureContext>;
  _socksProxy: { _server: Server; _sockets: Set<Socket>; port(): number };
}

/**
 * Admits or refuses the SOCKS listener's connections: attached to the listener AND applied to the
 * connections it already accepted, before the CA that makes the proxy able to reach the Core is
 * installed, so no connection made in between can be used later (proxy-guard.ts).
 */
export type ProxyGuard = (server: Server, port: number, alreadyAccepted: Iterable<Socket>) => void;

export class PlaywrightInternalsChanged extends Error {
  constructor(what: string) {
    super(`playwright-core's client-certificate proxy is not shaped as expected (${what}); icecore pins playwright-core 1.65.1`);
    this.name = "PlaywrightInternalsChanged";
  }
}

const buf = (pem: Uint8Array | string) => Buffer.from(pem as Uint8Array);

function proxyOf(context: BrowserContext): ProxyInternals {
  const connection = (context as unknown as { _connection?: { toImpl?: (x: unknown) => unknown } })._connection;
  if (typeof connection?.toImpl !== "function") throw new PlaywrightInternalsChanged("no in-process connection.toImpl");
  const impl = connection.toImpl(context) as { _clientCertificatesProxy?: ProxyInternals } | undefined;
  const proxy = impl?._clientCertificatesProxy;
  if (!(proxy?.secureContextMap instanceof Map)) throw new PlaywrightInternalsChanged("no secureContextMap (was the context created with clientCertificates?)");
  if (typeof proxy._socksProxy?._server?.prependListener !== "function") throw new PlaywrightInternalsChanged("no SOCKS server");
  if (!(proxy._socksProxy._sockets instanceof Set)) throw new PlaywrightInternalsChanged("no set of the SOCKS server's sockets");
  return proxy;
}

/**
 * Give the context's proxy the bundle's CA and the client identity for `origin`, from memory, once
 * `guard` holds the proxy's listener. The context must have been created with `clientCertificates`
 * for exactly this origin. Until the CA is installed the proxy cannot verify the Core, so it
 * cannot reach it: guarding first leaves no window in which an unguarded connection could.
 */
export function attachCoreIdentity(context: BrowserContext, origin: string, caPem: Uint8Array | string, identity: ClientIdentityPem, guard: ProxyGuard): CoreProxyHandle {
  const proxy = proxyOf(context);
  guard(proxy._socksProxy._server, proxy._socksProxy.port(), [...proxy._socksProxy._sockets]);
  const key = new URL(origin).origin;
  if (!proxy.secureContextMap.has(key)) throw new PlaywrightInternalsChanged(`no secure context for ${key}`);
  const ca = buf(caPem);
  const install = (id: ClientIdentityPem) => {
    // `ca` replaces the default trust store for this context: only the bundle's CA is trusted
    // (SPEC §5: the server is verified against the bundle's CA alone).
    proxy.secureContextMap.set(key, createSecureContext({ ca, cert: buf(id.certPem), key: buf(id.keyPem), minVersion: "TLSv1.2" }));
  };
  install(identity);
  return {
    renew: install,
    socksServer: proxy._socksProxy._server,
    socksPort: proxy._socksProxy.port(),
  };
}
