import { Hono } from "hono";

/** The HTTP side of the standalone server: `GET /` answers `openlivesync`. */
export function createApp(): Hono {
  const app = new Hono();
  app.get("/", (c) => c.text("openlivesync"));
  return app;
}
