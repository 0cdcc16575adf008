import { DisconnectedError, type LiveSyncError } from "./errors.ts";
import type { ChatMessage } from "./wire.ts";

interface HistoryRequest {
  resolve(messages: ChatMessage[]): void;
  reject(error: LiveSyncError): void;
}

/** `loadOlderMessages` calls waiting for their page, oldest first: the server answers them in order. */
export class HistoryPages {
  private readonly requests: HistoryRequest[] = [];

  /** A page was asked for: resolves with the messages it adds. */
  wait(): Promise<ChatMessage[]> {
    return new Promise<ChatMessage[]>((resolve, reject) => this.requests.push({ resolve, reject }));
  }

  /** The oldest request, which the page or error that just came answers. */
  take(): HistoryRequest | undefined {
    return this.requests.shift();
  }

  /** The socket dropped or the room was left: no page will come. */
  failAll(error: LiveSyncError = new DisconnectedError("get_chat_history")): void {
    for (const request of this.requests.splice(0)) request.reject(error);
  }
}
