import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One POST as the receiver got it: the raw body, as a signature check needs it. */
export interface ReceivedHook {
  headers: IncomingHttpHeaders;
  raw: string;
  body: { id: string; type: string; createdAt: number; data: any };
}

/** What the receiver does with a request: answer with a status, or take the response and answer later. */
export type Answer = (hook: ReceivedHook, res: ServerResponse) => number | "hold";

/**
 * A webhook receiver on 127.0.0.1 (node:http): records every POST, answers 200 unless `answer` says
 * otherwise, and can go down (listener closed, open connections cut) and come back on the same port.
 */
export class WebhookReceiver {
  readonly received: ReceivedHook[] = [];
  answer: Answer = () => 200;
  port = 0;
  private readonly server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const hook: ReceivedHook = { headers: req.headers, raw, body: JSON.parse(raw) };
      this.received.push(hook);
      const status = this.answer(hook, res);
      if (status !== "hold") res.writeHead(status).end();
    });
  });

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  /** Listens (again) on its port; the first time on a free one. */
  up(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, "127.0.0.1", () => {
        this.server.off("error", reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Stops listening and cuts every open connection: connections are refused until `up()`. */
  down(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Ids of the events received, in arrival order (a retried event appears once per attempt). */
  ids(): string[] {
    return this.received.map((hook) => hook.body.id);
  }
}
