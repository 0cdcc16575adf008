// The load generator, forked by bench/run.mjs with an IPC channel. One process drives every client
// connection of a scenario (see bench/README.md for why one process on this 2-core machine).
// Protocol with the parent:  parent → {cmd:"run", scenario, targets, params, serverPid, serverPids?}
//                            child  → {type:"checkpoint", name}  parent → {type:"ack", data}
//                            child  → {type:"result", result}     (then the child exits)
import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Histogram, Latency } from "./histogram.mjs";
import { openClient } from "./wsclient.mjs";

const now = () => performance.timeOrigin + performance.now(); // ms since epoch, sub-ms resolution
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;

// ---- measurement helpers -----------------------------------------------------------------------

function procStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime + stime, seconds
  } catch {
    return null;
  }
}
/** Busy CPU seconds of the whole machine (all cores) and the part spent in irq/softirq, from /proc/stat. */
function machineBusy() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: (total - f[3] - f[4]) / CLK_TCK, irq: (f[5] + f[6]) / CLK_TCK }; // minus idle, iowait
  } catch {
    return null;
  }
}

/** CPU seconds of every other process on the machine, by pid → { name, cpu }. */
function otherProcesses(exclude) {
  const out = new Map();
  let pids = [];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d) && !exclude.includes(Number(d)));
  } catch {}
  for (const pid of pids.slice(0, 5000)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(pid, { name, cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK });
    } catch {}
  }
  return out;
}

/** Who else used the CPU between two `otherProcesses` snapshots: total cores, and the top names. */
function otherUsers(a, b, secs) {
  const byName = new Map();
  let total = 0;
  for (const [pid, { name, cpu }] of b) {
    const used = cpu - (a.get(pid)?.cpu ?? 0);
    if (used <= 0) continue;
    total += used;
    byName.set(name, (byName.get(name) ?? 0) + used);
  }
  const top = [...byName]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 3)
    .filter(([, v]) => v / secs >= 0.05)
    .map(([name, v]) => `${name} ${(v / secs).toFixed(2)}`);
  return { cores: total / secs, top };
}

const cpuOf = (before, after, secs) => (before === null || after === null ? null : (after - before) / secs);

const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Reads `"t":<number>` inside buf[start, end) without making a string. */
const T_KEY = Buffer.from('"t":');
function readT(buf, start, end) {
  let i = buf.indexOf(T_KEY, start);
  if (i === -1 || i >= end) return NaN;
  i += 4;
  let v = 0;
  let c;
  while (i < end && (c = buf[i]) >= 48 && c <= 57) (v = v * 10 + (c - 48)), i++;
  if (buf[i] === 46) {
    let scale = 0.1;
    i++;
    while (i < end && (c = buf[i]) >= 48 && c <= 57) (v += (c - 48) * scale), (scale /= 10), i++;
  }
  return v;
}

// Server frames are JSON.stringify({type, payload}): the 10th byte tells the type apart.
const TYPE_AT = 9;
const T_BROADCAST = 0x62; // b
const T_PRESENCE = 0x70; // p
const T_JOINED = 0x72; // r
const T_ERROR = 0x65; // e

// ---- a client pool ---------------------------------------------------------------------------------

class Pool {
  constructor(ctx) {
    this.ctx = ctx;
    this.clients = [];
    this.closes = new Map(); // "code reason" -> count
    this.errors = new Map(); // error payload -> count
    this.unexpected = 0;
    this.onBroadcast = () => {};
    this.onPresence = () => {};
    this.onBatch = () => {};
    this.stopping = false;
    /** Every frame the clients received, and its bytes (payload, without WebSocket framing). */
    this.received = { frames: 0, bytes: 0 };
  }

  frame(client, buf, start, end) {
    this.received.frames++;
    this.received.bytes += end - start;
    const t = buf[start + TYPE_AT];
    if (t === T_BROADCAST) return this.onBroadcast(client, buf, start, end);
    if (t === T_PRESENCE) return this.onPresence(client, buf, start, end);
    if (t === T_JOINED) {
      const msg = JSON.parse(buf.toString("utf8", start, end));
      client.connectionId = msg.payload.connectionId;
      client.joined = true;
      this.ctx.status.joined++;
      this.onJoined?.(client, msg.payload);
      client.resolveJoin?.();
      return;
    }
    if (t === T_ERROR) {
      const msg = buf.toString("utf8", start, Math.min(end, start + 300));
      this.errors.set(msg, (this.errors.get(msg) ?? 0) + 1);
      return;
    }
    this.unexpected++;
  }

  /**
   * Opens `n` connections, `concurrency` at a time. `targetOf(i)`: which target client `i` connects to
   * (default round-robin). `first`: the first client's index (a load process holding a share of the
   * clients numbers them as the whole run does, so each still goes to the same target).
   */
  async connect(n, concurrency = 100, targetOf = (i) => i % this.ctx.targets.length, first = this.clients.length) {
    const { targets, kind } = this.ctx;
    const base = this.clients.length;
    let next = 0;
    const failures = [];
    const worker = async () => {
      while (next < n) {
        const i = base + next;
        const index = first + next++;
        const targetIndex = targetOf(index);
        const target = targets[targetIndex];
        const client = { index, target, targetIndex, joined: false, connectionId: undefined, api: undefined };
        this.clients[i] = client;
        for (let attempt = 0; attempt < 3 && !client.api; attempt++) {
          try {
            client.api = await openClient({
              ...target,
              kind,
              onFrame: (buf, s, e) => this.frame(client, buf, s, e),
              onBatch: () => this.onBatch(client),
              onClose: (code, reason) => {
                client.closed = true;
                if (this.stopping || client.leaving) return;
                const k = `${code} ${reason}`.trim();
                this.closes.set(k, (this.closes.get(k) ?? 0) + 1);
              },
            });
            this.ctx.status.connected++;
          } catch (err) {
            if (attempt === 2) failures.push(String(err?.message ?? err));
            else await sleep(50);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    if (failures.length) throw new Error(`${failures.length} of ${n} connections failed, first: ${failures[0]}`);
    return this.clients.slice(base, base + n);
  }

  /** Sends join_room for each client (`concurrency` joins in flight) and waits for every room_joined. */
  async join(clients, roomOf, { concurrency = 100, timeoutMs = 60_000, presence = () => ({}) } = {}) {
    let next = 0;
    const deadline = Date.now() + timeoutMs;
    const worker = async () => {
      while (next < clients.length && Date.now() < deadline) {
        const c = clients[next++];
        const done = new Promise((r) => (c.resolveJoin = r));
        c.room = roomOf(c);
        c.api.send(JSON.stringify({ type: "join_room", payload: { roomId: `room-${c.room}`, presence: presence(c) } }));
        await Promise.race([done, sleep(Math.max(0, deadline - Date.now()))]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, worker));
    const missing = clients.filter((c) => !c.joined).length;
    if (missing) throw new Error(`${missing} of ${clients.length} clients got no room_joined within ${timeoutMs} ms`);
  }

  /** Resolves once no frame has arrived for `quietMs` (bounded by `maxMs`). */
  async settle(quietMs = 300, maxMs = 10_000) {
    let last = Date.now();
    const prev = this.onBatch;
    this.onBatch = (c) => {
      last = Date.now();
      prev(c);
    };
    const end = Date.now() + maxMs;
    while (Date.now() < end && Date.now() - last < quietMs) await sleep(50);
    this.onBatch = prev;
  }

  report() {
    return {
      closes: Object.fromEntries(this.closes),
      errors: Object.fromEntries(this.errors),
      unexpectedFrames: this.unexpected,
      closedClients: this.clients.filter((c) => c.closed).length,
    };
  }

  /** Clients leave politely (close frame, FIN), as a browser tab would; stragglers are destroyed. */
  async shutdown() {
    this.stopping = true;
    for (const c of this.clients) c?.api?.close();
    await sleep(300);
    for (const c of this.clients) c?.api?.destroy();
  }
}

// ---- the measured window shared by the throughput scenarios ------------------------------------------

/**
 * Runs `pumpAll` to start sending, measures from `warmupMs` to `warmupMs + durationMs`, stops sending,
 * then waits (bounded) for in-flight messages to land. `counts()` → { delivered, sent, expected }.
 */
async function measureWindow(ctx, state, { warmupMs, durationMs, pumpAll, counts }) {
  // Several load processes (bench/load-spread.mjs): every one starts sending at the same moment.
  if (ctx.share) {
    ctx.status.phase = "ready";
    const { startAt } = await ctx.checkpoint("ready");
    await sleep(startAt - Date.now());
  }
  ctx.status.phase = "measure";
  ctx.status.counts = counts;
  state.running = true;
  pumpAll();
  await sleep(warmupMs);
  // The coordinator sleeps meanwhile; the other load processes are the load, not "other".
  const exclude = [process.pid, process.ppid, ...ctx.serverPids, ...ctx.siblings];
  const servers = () => ctx.serverPids.map(procStat);
  const a = { ...counts(), t: now(), servers: servers(), self: selfCpu(), busy: machineBusy(), others: otherProcesses(exclude) };
  process.send({ type: "window", edge: "start" }); // scale-out reads Redis's counters over the same window
  state.measuring = true;
  await sleep(durationMs);
  state.measuring = false;
  const b = { ...counts(), t: now(), servers: servers(), self: selfCpu(), busy: machineBusy(), others: otherProcesses(exclude) };
  process.send({ type: "window", edge: "end" });
  state.running = false;
  ctx.status.phase = "drain";
  const drainEnd = Date.now() + 3000;
  if (ctx.share) await sleep(50); // another process's last counts are on their way (see `relayProgress`)
  while (Date.now() < drainEnd && counts().delivered < counts().expected) await sleep(20);
  const c = counts();
  const secs = (b.t - a.t) / 1000;
  const others = otherUsers(a.others, b.others, secs);
  return {
    seconds: secs,
    deliveriesPerSec: (b.delivered - a.delivered) / secs,
    sentPerSec: (b.sent - a.sent) / secs,
    serverCpu: cpuOf(a.servers[0], b.servers[0], secs),
    // Every server process (several when instances are linked by a backplane), in target order.
    serverCpus: a.servers.map((x, i) => cpuOf(x, b.servers[i], secs)),
    clientCpu: (b.self - a.self) / secs,
    // CPU of every other process on the machine (other test runs, kernel threads) during the window.
    otherCpu: others.cores,
    otherUsers: others.top,
    irqCpu: a.busy === null ? null : (b.busy.irq - a.busy.irq) / secs,
    undelivered: c.expected - c.delivered,
    totals: c,
  };
}

/**
 * With several load processes, a scenario whose pacing needs the others' counts (fan-out: one sender,
 * receivers in every process) sends its own every 10 ms; the parent hands each process the sum of the
 * others' as `ctx.remote` and calls `ctx.onRemote`. Returns the stop function.
 */
function relayProgress(ctx, counts) {
  if (!ctx.share) return () => {};
  const send = () => {
    const { sent, delivered } = counts();
    process.send({ type: "progress", sent, delivered });
  };
  const timer = setInterval(send, 10);
  return () => (clearInterval(timer), send());
}

/** This process's contiguous share [lo, hi) of `n` items (all of them without a share). */
function shareOf(ctx, n) {
  const { index, of } = ctx.share ?? { index: 0, of: 1 };
  return [Math.floor((n * index) / of), Math.floor((n * (index + 1)) / of)];
}

// ---- scenarios ------------------------------------------------------------------------------------

function broadcastText(seq) {
  return `{"type":"broadcast_event","payload":{"event":"tick","payload":{"t":${now().toFixed(3)},"s":${seq}}}}`;
}

/** 1 sender and `receivers` receivers in one room; the sender keeps at most `window` messages in flight. */
/**
 * With a share (several load processes), this process holds receivers [lo, hi) and the last one also
 * the sender, which paces on every process's deliveries (`relayProgress`).
 */
async function fanout(ctx, { receivers = 199, durationMs = 5000, warmupMs = 1000, window = 16 }) {
  const pool = new Pool(ctx);
  const hist = new Latency(ctx.targets.length);
  const state = { running: false, measuring: false };
  const [lo, hi] = shareOf(ctx, receivers);
  let sent = 0;
  let delivered = 0;
  let stopRelay = () => {};
  try {
    ctx.status.phase = "connect";
    const recv = await pool.connect(hi - lo, 100, undefined, lo);
    ctx.status.phase = "join";
    await pool.join(recv, () => 0);
    const [sender] = hi === receivers ? await pool.connect(1, 1, undefined, receivers) : [];
    if (sender) await pool.join([sender], () => 0);
    await pool.settle();
    const R = receivers;
    const pump = () => {
      if (!state.running || !sender || sender.closed) return;
      const texts = [];
      while (sent * R - delivered - ctx.remote.delivered < window * R) texts.push(broadcastText(sent++));
      if (texts.length) sender.api.sendMany(texts);
    };
    ctx.onRemote = pump;
    const counts = () => ({ delivered, sent, expected: (sent + ctx.remote.sent) * (hi - lo) });
    stopRelay = relayProgress(ctx, counts);
    pool.onBroadcast = (client, buf, s, e) => {
      // Latency of every 4th delivery: keeps the client's per-frame cost down, still ~10^5 samples/s.
      if ((++delivered & 3) === 0 && state.measuring) hist.record(now() - readT(buf, s, e), client.targetIndex);
    };
    pool.onBatch = pump;
    const m = await measureWindow(ctx, state, { warmupMs, durationMs, pumpAll: pump, counts });
    return { ...m, ...latencyOf(ctx, hist), ...pool.report() };
  } finally {
    stopRelay();
    await pool.shutdown();
  }
}

/** The latency summaries, and with a share the histograms for the parent to merge. */
const latencyOf = (ctx, hist) => ({
  latency: hist.summary(),
  latencyByTarget: hist.byTarget(),
  ...(ctx.share ? { histograms: hist.export() } : {}),
});

/**
 * `clients` clients in `rooms` rooms; every client sends, each room keeps at most `window` messages in flight.
 * `localRooms`: all members of a room on one target (room k on target k mod targets), else round-robin.
 */
async function rooms(ctx, { clients = 1000, rooms: roomCount = 100, durationMs = 5000, warmupMs = 1000, window = 10, localRooms = false }) {
  const pool = new Pool(ctx);
  const hist = new Latency(ctx.targets.length);
  const state = { running: false, measuring: false };
  const per = clients / roomCount;
  if (!Number.isInteger(per) || per < 2) throw new Error("clients must be a multiple of rooms, at least 2 per room");
  const R = per - 1;
  const roomSent = new Float64Array(roomCount);
  const roomRecv = new Float64Array(roomCount);
  const rr = new Uint32Array(roomCount);
  const members = Array.from({ length: roomCount }, () => []);
  let sent = 0;
  let delivered = 0;
  try {
    // With a share (several load processes), this process holds rooms [r0, r1) and all their members.
    const [r0, r1] = shareOf(ctx, roomCount);
    ctx.status.phase = "connect";
    const targetOf = localRooms ? (i) => Math.floor(i / per) % ctx.targets.length : undefined;
    const all = await pool.connect((r1 - r0) * per, 100, targetOf, r0 * per);
    ctx.status.phase = "join";
    await pool.join(all, (c) => Math.floor(c.index / per));
    for (const c of all) members[c.room].push(c);
    await pool.settle();
    const pumpRoom = (k) => {
      if (!state.running) return;
      const list = members[k];
      let guard = per * window;
      while (roomSent[k] * R - roomRecv[k] < window * R && guard-- > 0) {
        const c = list[rr[k]++ % per];
        if (c.closed) continue;
        c.api.send(broadcastText(sent++));
        roomSent[k]++;
      }
    };
    pool.onBroadcast = (client, buf, s, e) => {
      roomRecv[client.room]++;
      if ((++delivered & 3) === 0 && state.measuring) hist.record(now() - readT(buf, s, e), client.targetIndex);
    };
    pool.onBatch = (client) => pumpRoom(client.room);
    const m = await measureWindow(ctx, state, {
      warmupMs,
      durationMs,
      pumpAll: () => {
        for (let k = r0; k < r1; k++) pumpRoom(k);
      },
      counts: () => ({ delivered, sent, expected: sent * R }),
    });
    return { ...m, ...latencyOf(ctx, hist), ...pool.report() };
  } finally {
    await pool.shutdown();
  }
}

/** `clients` connections joined in rooms of `perRoom`, idle; server RSS before, at 1/5 and at all. */
async function idleMemory(ctx, { clients = 5000, perRoom = 100 }) {
  const pool = new Pool(ctx);
  try {
    // Warm-up: one full join/leave cycle first, so lazily built state (JIT, pools) is not counted.
    const warm = await pool.connect(200);
    await pool.join(warm, (c) => 1000 + Math.floor(c.index / perRoom));
    for (const c of warm) (c.leaving = true), c.api.close();
    await sleep(500);
    pool.clients.length = 0;
    const before = await ctx.checkpoint("before");
    const first = Math.floor(clients / 5);
    const a = await pool.connect(first);
    await pool.join(a, (c) => Math.floor(c.index / perRoom));
    await pool.settle(500);
    const mid = await ctx.checkpoint("mid");
    const b = await pool.connect(clients - first);
    await pool.join(b, (c) => Math.floor(c.index / perRoom));
    await pool.settle(500);
    const after = await ctx.checkpoint("after");
    return {
      connections: clients,
      rssBeforeKB: before.rssKB,
      rssMidKB: mid.rssKB,
      rssAfterKB: after.rssKB,
      kbPerConn: (after.rssKB - before.rssKB) / clients,
      kbPerConnSlope: (after.rssKB - mid.rssKB) / (clients - first),
      gc: after.gc,
      heapKBPerConn: after.heapUsed == null || before.heapUsed == null ? null : (after.heapUsed - before.heapUsed) / 1024 / clients,
      ...pool.report(),
    };
  } finally {
    await pool.shutdown();
  }
}

/** `clients` cursors moving at `hz` for `moveMs`, then still; every resting position must arrive. */
async function presence(ctx, { clients = 50, hz = 60, moveMs = 3000, quietMs = 1000 }) {
  const pool = new Pool(ctx);
  const state = { moving: false };
  let updatesReceived = 0;
  let updateEntries = 0;
  let sentUpdates = 0;
  try {
    const all = await pool.connect(clients);
    await pool.join(all, () => 0, { presence: (c) => ({ cursor: { x: 0, y: 0 }, i: c.index }) });
    await pool.settle();
    for (const c of all) c.last = new Map();
    pool.onPresence = (client, buf, s, e) => {
      const msg = JSON.parse(buf.toString("utf8", s, e));
      const updated = msg.payload?.updated;
      if (!updated) return;
      if (state.moving) updatesReceived++;
      for (const entry of updated) {
        updateEntries++;
        client.last.set(entry.connectionId, JSON.stringify(entry.presence));
      }
    };
    const period = 1000 / hz;
    const t0 = performance.now();
    let tick = 0;
    for (const c of all) c.due = t0 + (c.index / clients) * period; // spread the phases
    state.moving = true;
    const cpu0 = procStat(ctx.serverPid);
    const moveEnd = t0 + moveMs;
    while (performance.now() < moveEnd && tick++ < (moveMs / 2) * 4) {
      const t = performance.now();
      for (const c of all) {
        if (c.due > t || c.closed) continue;
        c.due += period;
        if (c.due < t) c.due = t + period; // fell behind: no bursts
        const phase = (t - t0) / 1000 + c.index;
        c.presence = {
          cursor: { x: Math.round(500 + 400 * Math.cos(phase * 3)), y: Math.round(300 + 250 * Math.sin(phase * 2)) },
          i: c.index,
        };
        c.api.send(JSON.stringify({ type: "update_presence", payload: { presence: c.presence } }));
        sentUpdates++;
      }
      await sleep(2);
    }
    const moved = (performance.now() - t0) / 1000;
    const cpu1 = procStat(ctx.serverPid);
    state.moving = false;
    await sleep(quietMs);
    let ok = 0;
    let total = 0;
    const misses = [];
    for (const r of all) {
      for (const o of all) {
        if (o === r) continue;
        total++;
        const want = JSON.stringify(o.presence);
        if (r.last.get(o.connectionId) === want) ok++;
        else if (misses.length < 3) misses.push({ receiver: r.index, sender: o.index, want, got: r.last.get(o.connectionId) ?? null });
      }
    }
    return {
      clients,
      hz,
      sentPerSec: sentUpdates / moved,
      updatesPerSec: updatesReceived / moved,
      entriesReceived: updateEntries,
      resting: { ok, total },
      misses,
      serverCpu: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / moved,
      ...pool.report(),
    };
  } finally {
    await pool.shutdown();
  }
}

// ---- big rooms (bench/big-room.mjs) -------------------------------------------------------------------

/** Joins `clients` into one room, `batch` joins in flight at a time (the next batch once all answered). */
async function joinInBatches(pool, clients, batch, presence = () => ({})) {
  for (let i = 0; i < clients.length; i += batch) {
    await pool.join(clients.slice(i, i + batch), () => "big", { concurrency: batch, timeoutMs: 110_000, presence });
  }
}

/** `joiners` clients join one room in batches of `batch`: every frame and byte they receive, and how long it takes. */
async function bigJoin(ctx, { joiners = 2000, batch = 100 }) {
  const pool = new Pool(ctx);
  try {
    const all = await pool.connect(joiners);
    pool.received = { frames: 0, bytes: 0 };
    const cpu0 = procStat(ctx.serverPid);
    const t0 = now();
    await joinInBatches(pool, all, batch);
    const lastJoinedMs = now() - t0;
    await pool.settle(500, 60_000);
    const cpu1 = procStat(ctx.serverPid);
    return {
      joiners,
      batch,
      frames: pool.received.frames,
      bytes: pool.received.bytes,
      lastJoinedMs,
      serverCpuS: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0,
      ...pool.report(),
    };
  } finally {
    await pool.shutdown();
  }
}

/** Seeded exponential gaps (mean `meanMs`): Poisson arrivals that repeat from run to run. */
function poissonGaps(n, meanMs, seed = 27) {
  let x = seed;
  const random = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: n }, () => -Math.log(1 - random()) * meanMs);
}

/**
 * `joiners` clients join one room in an arrival `pattern`: "burst" (connect and join `batch` at a time,
 * the next batch after the previous one's room_joined), "uniform" (connected first, then one join every
 * `spanMs / joiners`) or "poisson" (the same mean rate, exponential gaps). Every client keeps the room's
 * member ids from its room_joined and every presence_updated after it: at the end each must hold all
 * `joiners`. Latency: a joiner's presence carries its join_room send time `t`; each arrival of it in
 * another member's `joined` list is one sample.
 */
async function arrivals(ctx, { joiners = 2000, pattern = "uniform", spanMs = 20_000, batch = 100 }) {
  const pool = new Pool(ctx);
  const latency = new Histogram();
  const members = new Map(); // client -> Set of member ids
  let last = { text: "", payload: undefined }; // one shared frame reaches member after member: parse it once
  pool.onJoined = (client, payload) => members.set(client, new Set(Object.keys(payload.presence)));
  pool.onPresence = (client, buf, s, e) => {
    const at = now();
    const text = buf.toString("utf8", s, e);
    if (text !== last.text) last = { text, payload: JSON.parse(text).payload };
    const ids = members.get(client);
    if (!ids) return;
    const p = last.payload;
    for (const entry of p.joined ?? []) {
      ids.add(entry.connectionId);
      if (typeof entry.presence?.t === "number") latency.record(at - entry.presence.t);
    }
    for (const entry of p.updated ?? []) ids.add(entry.connectionId);
    for (const id of p.left ?? []) ids.delete(id);
  };
  const presence = (c) => ({ i: c.index, t: now() });
  const join = (c) => {
    c.room = "big";
    c.api.send(JSON.stringify({ type: "join_room", payload: { roomId: "room-big", presence: presence(c) } }));
  };
  try {
    let cpu0;
    const t0 = now();
    if (pattern === "burst") {
      cpu0 = procStat(ctx.serverPid);
      for (let i = 0; i < joiners; i += batch) {
        const group = await pool.connect(Math.min(batch, joiners - i), batch);
        await pool.join(group, () => "big", { concurrency: batch, timeoutMs: 110_000, presence });
      }
    } else {
      const all = await pool.connect(joiners);
      pool.received = { frames: 0, bytes: 0 };
      cpu0 = procStat(ctx.serverPid);
      const gaps = pattern === "poisson" ? poissonGaps(joiners, spanMs / joiners) : Array(joiners).fill(spanMs / joiners);
      const start = performance.now();
      let due = start;
      for (const [i, c] of all.entries()) {
        due += gaps[i];
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        join(c);
      }
    }
    const lastJoinMs = now() - t0;
    // A loaded server may still be working through the joins: wait for every room_joined, then quiet.
    const deadline = Date.now() + 120_000;
    while (members.size < joiners && Date.now() < deadline) await sleep(100);
    await pool.settle(3000, 120_000);
    if (process.env.BENCH_DEBUG) console.error(`arrivals: ${members.size} joined, ${pool.received.frames} frames`);
    const cpu1 = procStat(ctx.serverPid);
    const everyone = new Set(pool.clients.map((c) => c.connectionId));
    let exact = 0;
    for (const c of pool.clients) {
      const ids = members.get(c);
      if (ids && ids.size === everyone.size && [...ids].every((id) => everyone.has(id))) exact++;
    }
    return {
      joiners,
      pattern,
      spanMs,
      frames: pool.received.frames,
      bytes: pool.received.bytes,
      lastJoinMs,
      latency: latency.summary(),
      exact,
      serverCpuS: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0,
      ...pool.report(),
    };
  } finally {
    await pool.shutdown();
  }
}

/**
 * `members` clients in one room, `movers` of them moving a cursor at `hz` for `moveMs`, then still.
 * `observers` clients (the last ones) parse every presence frame: move → arrival latency (each presence
 * carries its send time `t`) and each mover's last position, which must be its resting one. The others
 * only count frames, so the load client keeps up with the old per-member frames as long as it can.
 */
async function bigMove(ctx, { members = 5000, movers = 200, hz = 30, moveMs = 10_000, observers = 50, quietMs = 2000, batch = 100 }) {
  const pool = new Pool(ctx);
  const latency = new Histogram();
  let entries = 0;
  try {
    const all = await pool.connect(members);
    await joinInBatches(pool, all, batch, (c) => ({ x: 0, y: 0, i: c.index }));
    await pool.settle(500, 60_000);
    const moving = all.slice(0, movers);
    const watching = new Set(all.slice(Math.max(0, members - observers)));
    for (const c of watching) c.last = new Map();
    pool.onPresence = (client, buf, s, e) => {
      if (!watching.has(client)) return;
      const at = now();
      const p = JSON.parse(buf.toString("utf8", s, e)).payload;
      for (const entry of [...(p.joined ?? []), ...(p.updated ?? [])]) {
        entries++;
        if (typeof entry.presence?.t === "number") latency.record(at - entry.presence.t);
        client.last.set(entry.connectionId, JSON.stringify(entry.presence));
      }
    };
    pool.received = { frames: 0, bytes: 0 };
    const period = 1000 / hz;
    const t0 = performance.now();
    for (const c of moving) c.due = t0 + (c.index / movers) * period; // spread the phases
    const cpu0 = procStat(ctx.serverPid);
    let sent = 0;
    while (performance.now() < t0 + moveMs) {
      const t = performance.now();
      for (const c of moving) {
        if (c.due > t || c.closed) continue;
        c.due += period;
        if (c.due < t) c.due = t + period; // fell behind: no bursts
        const phase = (t - t0) / 1000 + c.index;
        c.presence = {
          x: Math.round(500 + 400 * Math.cos(phase * 3)),
          y: Math.round(300 + 250 * Math.sin(phase * 2)),
          i: c.index,
          t: now(),
        };
        c.api.send(JSON.stringify({ type: "update_presence", payload: { presence: c.presence } }));
        sent++;
      }
      await sleep(2);
    }
    const moved = (performance.now() - t0) / 1000;
    const cpu1 = procStat(ctx.serverPid);
    const framesMoving = pool.received.frames;
    const bytesMoving = pool.received.bytes;
    await sleep(quietMs);
    let ok = 0;
    let total = 0;
    const misses = [];
    for (const r of watching) {
      for (const m of moving) {
        if (m === r || m.closed || r.closed) continue;
        total++;
        const want = JSON.stringify(m.presence);
        if (r.last.get(m.connectionId) === want) ok++;
        else if (misses.length < 3) misses.push({ receiver: r.index, sender: m.index, want, got: r.last.get(m.connectionId) ?? null });
      }
    }
    return {
      members,
      movers,
      hz,
      sentPerSec: sent / moved,
      framesPerSec: framesMoving / moved,
      mbPerSec: bytesMoving / moved / 1e6,
      serverCpu: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / moved,
      latency: latency.summary(),
      entriesObserved: entries,
      resting: { ok, total },
      misses,
      ...pool.report(),
    };
  } finally {
    await pool.shutdown();
  }
}

const SCENARIOS = { fanout, rooms, idleMemory, presence, bigJoin, bigMove, arrivals };

// ---- IPC with run.mjs ------------------------------------------------------------------------------

let pendingAck;
let ctx;
/** Where this process is, for a parent that gives up waiting ({cmd:"status"}): phase and counts so far. */
function statusReport() {
  const { phase, connected, joined, counts } = ctx?.status ?? {};
  return { phase, connected, joined, ...(counts ? counts() : {}) };
}
process.on("message", async (msg) => {
  if (msg.type === "ack") return pendingAck?.(msg.data);
  if (msg.type === "progress") {
    ctx.remote = msg;
    return ctx.onRemote();
  }
  if (msg.cmd === "status") return process.send({ type: "status", status: statusReport() });
  if (msg.cmd !== "run") return;
  ctx = {
    targets: msg.targets,
    kind: msg.clientKind ?? "raw",
    serverPid: msg.serverPid,
    serverPids: msg.serverPids ?? [msg.serverPid],
    // bench/load-spread.mjs: this process's share { index, of } of the clients, and the other load processes.
    share: msg.share,
    siblings: msg.siblings ?? [],
    remote: { sent: 0, delivered: 0 },
    onRemote: () => {},
    status: { phase: "start", connected: 0, joined: 0, counts: undefined },
    checkpoint: (name) =>
      new Promise((resolve) => {
        pendingAck = resolve;
        process.send({ type: "checkpoint", name });
      }),
  };
  try {
    const fn = SCENARIOS[msg.scenario];
    if (!fn) throw new Error(`unknown load scenario ${msg.scenario}`);
    const result = await fn(ctx, msg.params ?? {});
    process.send({ type: "result", result }, () => process.exit(0));
  } catch (err) {
    process.send({ type: "result", error: String(err?.stack ?? err) }, () => process.exit(1));
  }
});
