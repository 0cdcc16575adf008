// The bare baseline: a plain `ws` relay. One JSON.stringify per broadcast, one ws.send per recipient.
import { createServer } from "node:http";
import { WebSocketServer } from "ws";
import { serveBenchControl } from "./control.mjs";

const server = createServer((_req, res) => res.end("baseline"));
const wss = new WebSocketServer({ server, path: "/live" });
const rooms = new Map(); // roomId -> Map<ws, member>
let nextId = 0;
const relay = (room, except, msg) => {
  const text = JSON.stringify(msg);
  for (const peer of room.keys()) if (peer !== except) peer.send(text);
};
wss.on("connection", (ws) => {
  const me = { connectionId: String(++nextId), presence: {} };
  let room, roomId;
  ws.on("message", (data) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    const p = msg.payload ?? {};
    if (msg.type === "join_room") {
      roomId = p.roomId;
      room = rooms.get(roomId) ?? rooms.set(roomId, new Map()).get(roomId);
      me.presence = p.presence ?? {};
      room.set(ws, me);
      ws.send(
        JSON.stringify({
          type: "room_joined",
          payload: {
            roomId,
            connectionId: me.connectionId,
            presence: Object.fromEntries([...room.values()].map((m) => [m.connectionId, m])),
          },
        }),
      );
      relay(room, ws, { type: "presence_updated", payload: { roomId, joined: [me] } });
    } else if (!room) return;
    else if (msg.type === "broadcast_event")
      relay(room, ws, { type: "broadcast_event", payload: { roomId, connectionId: me.connectionId, event: p.event, payload: p.payload } });
    else if (msg.type === "update_presence")
      (me.presence = p.presence), relay(room, ws, { type: "presence_updated", payload: { roomId, updated: [me] } });
  });
  ws.on("close", () => {
    if (!room?.delete(ws)) return;
    if (room.size === 0) rooms.delete(roomId);
    else relay(room, ws, { type: "presence_updated", payload: { roomId, left: [me.connectionId] } });
  });
});
server.listen(0, "127.0.0.1", () =>
  serveBenchControl(server.address().port, (done) => {
    wss.close();
    server.close(done);
    server.closeAllConnections();
  }),
);
