/**
 * Windows: `\\.\pipe\icecore-<32 hex>` (SPEC §4). Not built yet: until the named-pipe endpoint
 * can name and pin its peer, it fails closed like any unsupported OS.
 */
import { unsupportedPlatform } from "./unsupported.ts";

export const windowsPlatform = unsupportedPlatform("win32");
