// Stock socket.io-client sockets driven by a pytest test (tests/support/node.py), one JSON
// command a line on stdin, one JSON report a line on stdout.
//
// Commands:  {"op":"open","id":"c1","url":"http://h:p/v1/shared","options":{auth,...}}
//            {"op":"emit","id":"c1","event":"join","args":[{}],"ack":7}   (ack: optional)
//            {"op":"close","id":"c1"}                                       {"op":"exit"}
// Reports:   {"id","type":"open","engine","transport"} (the Engine.IO session, first transport)
//            {"id","type":"connect","sid","engine","transport"}   {"id","type":"upgrade","transport"}
//            {"id","type":"event","event","args"}   {"id","type":"ack","ack","args"|"error"}
//            {"id","type":"disconnect","reason"}    {"id","type":"connect_error","message","data"}
//            {"id","type":"reconnect_attempt","attempt"}
// Options are socket.io-client's (transports, reconnection, ca, rejectUnauthorized, ...), plus
// reconnectOnShutdown; by default the client does what an application's does: polling first,
// then the upgrade.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const ACK_TIMEOUT_MS = 10000;
const sockets = new Map();

function report(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function open({ id, url, options }) {
  const { reconnectOnShutdown, ...clientOptions } = options || {};
  const socket = io(url, { forceNew: true, ...clientOptions });
  sockets.set(id, socket);
  if (reconnectOnShutdown) followShutdown(socket);
  socket.io.on("open", () => {
    const engine = socket.io.engine;
    report({ id, type: "open", engine: engine.id, transport: engine.transport.name });
    engine.once("upgrade", (transport) => report({ id, type: "upgrade", transport: transport.name }));
  });
  socket.on("connect", () => {
    const engine = socket.io.engine;
    report({ id, type: "connect", sid: socket.id, engine: engine.id, transport: engine.transport.name });
  });
  socket.on("connect_error", (error) =>
    report({ id, type: "connect_error", message: error.message, data: error.data ?? null }),
  );
  socket.on("disconnect", (reason) => report({ id, type: "disconnect", reason }));
  socket.io.on("reconnect_attempt", (attempt) => report({ id, type: "reconnect_attempt", attempt }));
  socket.onAny((event, ...args) => report({ id, type: "event", event, args }));
}

// What an application does with `server_shutdown {reconnect: true}` (contract §9): the server's
// DISCONNECT that follows ends the socket ("io server disconnect" is never retried by the
// client itself), so the application connects again, and lands on a surviving server.
function followShutdown(socket) {
  let told = false;
  socket.on("server_shutdown", (payload) => {
    told = Boolean(payload && payload.reconnect);
  });
  socket.on("disconnect", (reason) => {
    if (told && reason === "io server disconnect") socket.connect();
    told = false;
  });
}

function emit({ id, event, args, ack }) {
  const socket = sockets.get(id);
  if (ack === undefined || ack === null) {
    socket.emit(event, ...(args || []));
    return;
  }
  socket.timeout(ACK_TIMEOUT_MS).emit(event, ...(args || []), (error, ...reply) => {
    if (error) report({ id, type: "ack", ack, error: String(error.message || error) });
    else report({ id, type: "ack", ack, args: reply });
  });
}

function close({ id }) {
  const socket = sockets.get(id);
  if (socket) {
    socket.io.opts.reconnection = false;
    socket.disconnect();
    socket.io.engine?.close();
    sockets.delete(id);
  }
}

const COMMANDS = { open, emit, close };
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  if (command.op === "exit") {
    for (const id of [...sockets.keys()]) close({ id });
    process.exit(0);
  }
  try {
    COMMANDS[command.op](command);
  } catch (error) {
    report({ id: command.id, type: "failure", message: String(error && error.stack ? error.stack : error) });
  }
});
lines.on("close", () => process.exit(0));
