import type { Platform } from "./platform.ts";
import { linuxPlatform } from "./linux.ts";
import { darwinPlatform } from "./darwin.ts";
import { windowsPlatform } from "./windows.ts";
import { unsupportedPlatform } from "./unsupported.ts";

export * from "./platform.ts";

/** The one place that picks an OS implementation. Unknown systems get the fail-closed one. */
export function currentPlatform(os: NodeJS.Platform = process.platform): Platform {
  switch (os) {
    case "linux":
      return linuxPlatform;
    case "darwin":
      return darwinPlatform;
    case "win32":
      return windowsPlatform;
    default:
      return unsupportedPlatform(os);
  }
}
