// Reference server: the bench workload (bench/README.md) on socket.io 4.8, with
// @socket.io/redis-adapter when REDIS_URL is set.  node server.mjs <port>
import { createServer } from "node:http";

import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const NS = "/v1/conversation";
const port = Number(process.argv[2] || 4000);

function rest(nsp) {
  // POST /emit/<userId>/<event>: the body goes to room user:<userId>
  return (request, response) => {
    const match = /^\/emit\/([^/?]+)\/([^/?]+)/.exec(request.url);
    if (request.url.startsWith("/status")) {
      response.writeHead(200, { "content-type": "application/json" });
      response.end('{"success":true}');
      return;
    }
    if (request.method !== "POST" || !match) {
      response.writeHead(404).end();
      return;
    }
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      let body;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
      } catch {
        response.writeHead(400).end();
        return;
      }
      const uid = decodeURIComponent(match[1]);
      nsp.to(`user:${uid}`).emit(decodeURIComponent(match[2]), body);
      response.writeHead(200, { "content-type": "application/json" });
      response.end('{"success":true,"message":"SUCCESS"}');
    });
  };
}

async function main() {
  const http = createServer();
  const io = new Server(http, { cors: { origin: "*" }, pingInterval: 25_000, pingTimeout: 20_000 });
  if (process.env.REDIS_URL) {
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  const nsp = io.of(NS);
  http.on("request", (request, response) => {
    if (!request.url.startsWith("/socket.io/")) rest(nsp)(request, response);
  });
  nsp.use((socket, next) => {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    if (!token) return next(new Error("NOT_AUTHENTICATED"));
    socket.data.uid = String(token);
    next();
  });
  nsp.on("connection", (socket) => {
    socket.join(`user:${socket.data.uid}`);
    socket.on("join", (payload, ack) => {
      socket.join(payload.room);
      if (typeof ack === "function") ack({ ok: true });
    });
    socket.on("message", (payload) => {
      nsp.to(payload.room).emit("message", payload);
    });
  });
  http.listen(port, "127.0.0.1", () => console.log(`socket.io reference on ${port}`));
  process.on("SIGTERM", () => process.exit(0));
}

main();
