/**
 * Any OS without its own file here: the handoff fails closed (SPEC §4.3: where the platform
 * cannot name the peer, no key is delivered), and hardening does nothing it cannot prove.
 */
import { PlatformUnsupported, type Platform } from "./platform.ts";

export function unsupportedPlatform(os: string): Platform {
  const refuse = () => {
    throw new PlatformUnsupported(`the handoff cannot verify its peer on ${os}; refusing to deliver a key`);
  };
  return {
    os,
    canIdentifyPeers: false,
    currentUid: () => process.getuid?.() ?? -1,
    isPrivileged: () => process.getuid?.() === 0,
    endpoints: { listen: refuse, isEndpointName: () => false, receive: async () => refuse() },
    hardening: { harden() {}, tracerPid: () => null, attachBeforeHardenRisk: () => `${os} is not supported`, orphanGuard: () => [] },
  };
}
