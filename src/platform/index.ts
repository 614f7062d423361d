import type { HandoffPlatform } from "./platform.ts";
import { linuxPlatform } from "./linux.ts";
import { darwinPlatform } from "./darwin.ts";
import { windowsPlatform } from "./windows.ts";

export * from "./platform.ts";

/** The one place that picks an OS implementation. Unknown systems get the fail-closed one. */
export function currentPlatform(os: NodeJS.Platform = process.platform): HandoffPlatform {
  switch (os) {
    case "linux":
      return linuxPlatform;
    case "darwin":
      return darwinPlatform;
    default:
      return windowsPlatform;
  }
}
