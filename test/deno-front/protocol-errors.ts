/** Every RFC 6455 protocol error a client can make, as bytes after the 101 and the close code Node's ws answers with. */
import { frame, text } from "./raw-client.ts";

export const join = (roomId: string) => text({ type: "join_room", payload: { roomId } });
const fragment = (opcode: number, body: string, fin = false) => frame(opcode, Buffer.from(body), { fin });
export const closeWith = (code: number) => frame(8, Buffer.of(code >> 8, code & 0xff));

/** What a client sends after the 101, and the close code the server must answer with. */
export const protocolErrors: Array<[string, Buffer, number]> = [
  // A header that declares 256 MiB and no payload: refused at the header, before any buffer of that size.
  ["a ping whose header declares 256 MiB", frame(9, Buffer.alloc(0), { declared: 256 * 1024 * 1024 }), 1002],
  ["a ping of 126 bytes", frame(9, Buffer.alloc(126)), 1002],
  ["a fragmented ping", frame(9, Buffer.from("x"), { fin: false }), 1002],
  ["a fragmented close", frame(8, Buffer.of(3, 232), { fin: false }), 1002],
  ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((opcode): [string, Buffer, number] => [
    `reserved opcode ${opcode}`,
    frame(opcode, Buffer.from("x")),
    1002,
  ]),
  ...[1, 2, 4].map((rsv): [string, Buffer, number] => [`RSV bits ${rsv} with no extension`, frame(1, Buffer.from("{}"), { rsv }), 1002]),
  ["a new text frame inside a fragmented message", Buffer.concat([fragment(1, '{"type":'), fragment(1, '"leave_room"}', true)]), 1002],
  ["a binary frame inside a fragmented message", Buffer.concat([fragment(1, '{"type":'), fragment(2, "x", true)]), 1002],
  ["a continuation with no message begun", fragment(0, "{}", true), 1002],
  ["text that is not UTF-8", frame(1, Buffer.of(0x22, 0xff, 0xfe, 0x22)), 1007],
  [
    "text whose fragments cut a UTF-8 sequence short",
    Buffer.concat([frame(1, Buffer.of(0x22, 0xc3), { fin: false }), frame(0, Buffer.of(0x41))]),
    1007,
  ],
  ["a close frame with a one-byte body", frame(8, Buffer.of(3)), 1002],
  ["a close frame with code 1005", closeWith(1005), 1002],
  ["a close frame with code 999", closeWith(999), 1002],
  ["a close frame whose reason is not UTF-8", frame(8, Buffer.of(3, 232, 0xff)), 1007],
];
