// The bare Bun baseline: Bun.serve relaying with native pub/sub. One JSON.stringify per broadcast,
// one ws.publish per room (uWebSockets writes to each subscriber in native code).
import { serveBenchControl } from "./control.mjs";
globalThis.gc ??= () => Bun.gc(true);
const rooms = new Map();
let nextId = 0;
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req, srv) {
    const data = { me: { connectionId: String(++nextId), presence: {} } };
    if (new URL(req.url).pathname === "/live" && srv.upgrade(req, { data })) return;
    return new Response("baseline");
  },
  websocket: {
    message(ws, data) {
      let msg;
      try {
        msg = JSON.parse(data);
      } catch {
        return;
      }
      const p = msg.payload ?? {};
      const me = ws.data.me;
      if (msg.type === "join_room") {
        const roomId = (ws.data.roomId = p.roomId);
        const room = rooms.get(roomId) ?? rooms.set(roomId, new Map()).get(roomId);
        me.presence = p.presence ?? {};
        room.set(ws, me);
        ws.subscribe(roomId);
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
        ws.publish(
          roomId,
          JSON.stringify({
            type: "presence_updated",
            payload: {
              roomId,
              joined: [me],
            },
          }),
        );
        return;
      }
      const roomId = ws.data.roomId;
      if (!roomId) return;
      if (msg.type === "broadcast_event")
        ws.publish(
          roomId,
          JSON.stringify({
            type: "broadcast_event",
            payload: {
              roomId,
              connectionId: me.connectionId,
              event: p.event,
              payload: p.payload,
            },
          }),
        );
      else if (msg.type === "update_presence")
        (me.presence = p.presence),
          ws.publish(
            roomId,
            JSON.stringify({
              type: "presence_updated",
              payload: {
                roomId,
                updated: [me],
              },
            }),
          );
    },
    close(ws) {
      const roomId = ws.data.roomId;
      const room = roomId ? rooms.get(roomId) : undefined;
      if (!room?.delete(ws)) return;
      if (room.size === 0) rooms.delete(roomId);
      else
        server.publish(
          roomId,
          JSON.stringify({
            type: "presence_updated",
            payload: {
              roomId,
              left: [ws.data.me.connectionId],
            },
          }),
        );
    },
  },
});
serveBenchControl(server.port, (done) => void Promise.resolve(server.stop(true)).then(done, done));
