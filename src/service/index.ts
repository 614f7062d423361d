import { launchdManager } from "./launchd.ts";
import type { ServiceAccount, ServiceManager } from "./service.ts";
import { systemdManager } from "./systemd.ts";
import { taskSchedulerManager } from "./task-scheduler.ts";

export * from "./service.ts";

/** The one place that picks the user-service manager of an OS; null where icecore has none. */
export function serviceManagerFor(os: NodeJS.Platform, account: ServiceAccount): ServiceManager | null {
  switch (os) {
    case "linux":
      return systemdManager(account);
    case "darwin":
      return launchdManager(account);
    case "win32":
      return taskSchedulerManager(account);
    default:
      return null;
  }
}
