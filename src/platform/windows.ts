/**
 * Windows: the SPEC names `\\.\pipe\icecore-<hex>`, but Bun cannot yet accept on a named pipe and
 * hand us the handle for GetNamedPipeClientProcessId, so the peer cannot be named. Fail closed:
 * handoff refuses to start rather than deliver a key to an unverified process (README, "Windows").
 */
import { PeerUnidentifiable, type HandoffPlatform } from "./platform.ts";

const UNSUPPORTED = "the handoff cannot verify its peer on Windows yet; refusing to deliver a key";

export const windowsPlatform: HandoffPlatform = {
  os: "windows",
  canIdentifyPeers: false,
  allocateEndpoint() {
    throw new PeerUnidentifiable(UNSUPPORTED);
  },
  isEndpointName: (name) => /^\\\\\.\\pipe\\icecore-[0-9a-f]{32}$/.test(name),
  identifyPeer() {
    throw new PeerUnidentifiable(UNSUPPORTED);
  },
  async readOnce() {
    throw new PeerUnidentifiable(UNSUPPORTED);
  },
  hardenProcess() {},
};
