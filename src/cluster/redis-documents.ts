import { backgroundTimeout } from "../util/async.ts";
import { fromBase64, toBase64 } from "../util/base64.ts";
import { sourceOf, type DocumentAnswer, type DocumentLink, type DocumentSink } from "./backplane.ts";
import type { RedisKeys, WireRecord, createCodec } from "./redis-codec.ts";
import type { RedisConnection } from "./redis-connection.ts";
import type { Publisher } from "./redis-publisher.ts";

/** Awareness client ids as an answer lists them: decimal, comma-separated. */
function clientIds(text: string): number[] {
  if (text === "") return [];
  const ids = text.split(",").map(Number);
  if (!ids.every((id) => Number.isSafeInteger(id) && id >= 0)) throw new Error("a document answer's client ids are malformed");
  return ids;
}

export interface RedisDocumentsOptions {
  instanceId: string;
  keys: RedisKeys;
  codec: ReturnType<typeof createCodec>;
  redis: RedisConnection;
  publisher: Publisher;
  report(message: string, cause?: unknown): void;
}

/** One `fetch` waiting for answers: `expected` is unknown (Infinity) until the PUBLISH said how many heard it. */
interface Question {
  name: string;
  answers: DocumentAnswer[];
  expected: number;
  done(): void;
  /** Past its timeout: answers still coming are applied as updates (they hold what the asker lacks). */
  late?: boolean;
}

/** How long answers past a fetch's timeout are still applied. */
const LATE_ANSWERS_MS = 30_000;

const encode = (data: Uint8Array) => toBase64(data);
function decode(text: string): Uint8Array {
  if (text === "") return new Uint8Array(0);
  const bytes = fromBase64(text);
  if (!bytes) throw new Error("a document record from another instance is not base64");
  return bytes;
}

/**
 * Shared documents over Redis: each document has a channel (`keys.document`, the name in its hash tag, so
 * in a Redis Cluster it is one sharded channel on one shard); an instance subscribes while it holds the
 * document. Updates and awareness go out batched per turn like room records (publisher). A question goes
 * out as a single PUBLISH, whose reply counts the subscribers that heard it: every other holder answers,
 * so the asker knows how many answers to wait for and stops at the first of all-answered and its timeout.
 */
export class RedisDocuments implements DocumentLink {
  /** Documents subscribed (or being subscribed). */
  readonly names = new Set<string>();
  private sink: DocumentSink | undefined;
  private readonly questions = new Map<string, Question>();
  private nextQuestion = 0;

  constructor(private readonly o: RedisDocumentsOptions) {}

  listen(sink: DocumentSink): void {
    this.sink = sink;
  }

  subscribe(name: string): Promise<void> {
    if (this.names.has(name)) return Promise.resolve();
    this.names.add(name);
    const { redis } = this.o;
    if (!redis.sub || redis.closed) return Promise.resolve();
    return redis.subscribeTo(this.o.keys.document(name)).then(
      () => {},
      (error: unknown) => redis.failed(error),
    );
  }

  unsubscribe(name: string): void {
    const { redis } = this.o;
    if (!this.names.delete(name) || !redis.sub || redis.closed) return;
    redis.unsubscribeFrom(this.o.keys.document(name)).catch(redis.failed);
  }

  /** Subscribe again to every held document (the backplane started after documents loaded). */
  resubscribe(): void {
    const { redis, keys } = this.o;
    for (const name of this.names) redis.subscribeTo(keys.document(name)).catch(redis.failed);
  }

  /** Messages may have been missed (Redis came back): the documents exchange diffs with the other holders. */
  resync(): void {
    if (this.names.size > 0) this.sink?.resync();
  }

  publish(name: string, kind: "update" | "awareness", data: Uint8Array): void {
    if (!this.o.redis.isReady()) return;
    const { codec, keys, publisher } = this.o;
    publisher.publishOn(keys.document(name), codec.header(kind, name, ""), encode(data));
  }

  async fetch(name: string, stateVector: Uint8Array, timeoutMs: number): Promise<DocumentAnswer[]> {
    const { redis, codec, keys } = this.o;
    if (!redis.isReady()) return [];
    const id = `${this.o.instanceId}:${++this.nextQuestion}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const question: Question = { name, answers: [], expected: Number.POSITIVE_INFINITY, done: () => {} };
    const answered = new Promise<void>((resolve) => {
      question.done = resolve;
      timer = setTimeout(resolve, timeoutMs);
    });
    this.questions.set(id, question);
    try {
      const text = `${codec.header("query", name, "")}\n${id} ${encode(stateVector)}`;
      const heard = Number(await redis.publishTo(keys.document(name), text));
      // Every holder heard it, this instance included (it subscribed before asking).
      question.expected = Number.isFinite(heard) ? heard - 1 : 0;
      if (question.answers.length >= question.expected) question.done();
      await answered;
    } catch (error) {
      redis.failed(error);
    } finally {
      clearTimeout(timer);
    }
    const missing = question.expected - question.answers.length;
    if (missing <= 0) this.questions.delete(id);
    else {
      question.late = true;
      question.expected = missing;
      backgroundTimeout(() => this.questions.delete(id), LATE_ANSWERS_MS);
    }
    return question.answers.splice(0);
  }

  /** A record from a document channel; false when it is not a document's. */
  readonly receive = (record: WireRecord): boolean => {
    switch (record.kind) {
      case "update":
        if (this.names.has(record.roomId)) this.sink?.update(record.roomId, decode(record.frame));
        return true;
      case "awareness":
        // An instance relays only its own clients' awareness: they are its, and go when it dies.
        if (this.names.has(record.roomId)) this.sink?.awareness(record.roomId, decode(record.frame), { instanceId: record.instanceId });
        return true;
      case "query":
        this.answer(record);
        return true;
      case "answer":
        if (record.connectionId === this.o.instanceId) this.collect(record.frame, record.instanceId);
        return true;
      default:
        return false;
    }
  };

  /** Instances whose clients' awareness the loaded documents show (liveness checks they still beat). */
  remoteInstances(): Iterable<string> {
    return this.sink?.remoteInstances() ?? [];
  }

  /** Instances found dead: their clients' awareness goes from the loaded documents. */
  instancesDown(instanceIds: ReadonlySet<string>, checkedAt: number): void {
    this.sink?.instancesDown(instanceIds, checkedAt);
  }

  private answer(record: WireRecord): void {
    const { redis, codec, keys } = this.o;
    const space = record.frame.indexOf(" ");
    if (space <= 0 || !redis.isReady()) return;
    const found = this.sink?.answer(record.roomId, decode(record.frame.slice(space + 1)));
    // A holder without the document (unloading) still answers, empty, so the asker need not wait it out.
    // The fifth field (its own clients' awareness ids, comma-separated) is newer: older askers ignore it.
    const fields = found
      ? [
          encode(found.update),
          encode(found.stateVector),
          found.awareness ? encode(found.awareness) : "",
          (found.ownClients ?? []).join(","),
        ]
      : ["", "", "", ""];
    const text = `${codec.header("answer", record.roomId, record.instanceId)}\n${record.frame.slice(0, space)} ${fields.join(" ")}`;
    redis.publishTo(keys.document(record.roomId), text).catch(redis.failed);
  }

  private collect(frame: string, from: string): void {
    const [id, update, stateVector, awareness, own] = frame.split(" ");
    const question = this.questions.get(id!);
    if (!question || update === undefined || stateVector === undefined) return;
    let answer: DocumentAnswer;
    try {
      answer = { update: decode(update), stateVector: decode(stateVector), awareness: awareness ? decode(awareness) : undefined, from };
      if (own !== undefined) answer.ownClients = clientIds(own);
    } catch (error) {
      this.o.report("Dropped a malformed document answer from another instance", error);
      return;
    }
    if (!question.late) {
      question.answers.push(answer);
      if (question.answers.length >= question.expected) question.done();
      return;
    }
    if (answer.update.byteLength > 0) this.sink?.update(question.name, answer.update);
    if (answer.awareness) this.sink?.awareness(question.name, answer.awareness, sourceOf(answer));
    if (--question.expected <= 0) this.questions.delete(id!);
  }
}
