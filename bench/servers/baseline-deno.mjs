// The bare Deno baseline: Deno.serve + Deno.upgradeWebSocket relay. One JSON.stringify per broadcast,
// one socket.send per recipient. Run with --v8-flags=--expose-gc for the stdin `gc` command.
import { serveBenchControl } from "./control.mjs";
const rooms = new Map();
let nextId = 0;
const relay = (room, except, msg) => {
  const text = JSON.stringify(msg);
  for (const peer of room.keys()) if (peer !== except && peer.readyState === 1) peer.send(text);
};
const server = Deno.serve(
  {
    port: 0,
    hostname: "127.0.0.1",
    onListen() {},
  },
  (req) => {
    if (new URL(req.url).pathname !== "/live" || req.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("baseline");
    const { socket: ws, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    const me = {
      connectionId: String(++nextId),
      presence: {},
    };
    let room;
    let roomId;
    ws.onmessage = (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
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
        relay(room, ws, {
          type: "presence_updated",
          payload: {
            roomId,
            joined: [me],
          },
        });
      } else if (!room) return;
      else if (msg.type === "broadcast_event")
        relay(room, ws, {
          type: "broadcast_event",
          payload: {
            roomId,
            connectionId: me.connectionId,
            event: p.event,
            payload: p.payload,
          },
        });
      else if (msg.type === "update_presence")
        (me.presence = p.presence),
          relay(room, ws, {
            type: "presence_updated",
            payload: {
              roomId,
              updated: [me],
            },
          });
    };
    ws.onclose = () => {
      if (!room?.delete(ws)) return;
      if (room.size === 0) rooms.delete(roomId);
      else
        relay(room, ws, {
          type: "presence_updated",
          payload: {
            roomId,
            left: [me.connectionId],
          },
        });
    };
    return response;
  },
);
serveBenchControl(server.addr.port, (done) => void server.shutdown().then(done, done));
