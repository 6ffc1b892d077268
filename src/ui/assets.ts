// The static files the UI needs, embedded in the compiled binary (Bun's `type: "file"` imports
// resolve to /$bunfs/... paths inside it, and to node_modules paths when run from source).
// Only names and paths live here; src/server/admin.ts reads and serves them.
import htmxPath from "htmx.org/dist/htmx.min.js" with { type: "file" };
import picoPath from "@picocss/pico/css/pico.min.css" with { type: "file" };
import appCssPath from "./assets/app.css" with { type: "file" };
import appJsPath from "./assets/app.js" with { type: "file" };

export interface StaticAsset {
  path: string;
  contentType: string;
}

export const STATIC_ASSETS: Readonly<Record<string, StaticAsset>> = {
  "htmx.min.js": { path: htmxPath, contentType: "text/javascript; charset=utf-8" },
  "pico.min.css": { path: picoPath, contentType: "text/css; charset=utf-8" },
  "app.css": { path: appCssPath, contentType: "text/css; charset=utf-8" },
  "app.js": { path: appJsPath, contentType: "text/javascript; charset=utf-8" },
};
