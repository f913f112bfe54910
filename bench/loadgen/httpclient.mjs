// A keep-alive HTTP/1.1 connection for the REST runs: one request at a time, the request
// written by hand, the response read as bytes (its status and the end of its body, by
// Content-Length or chunked; the body itself is not kept). Node's http client cost the load
// generator as much CPU per request as the servers it measured (bench/RESULTS.md).
import net from "node:net";

const HEAD_END = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");
const MAX_HEAD = 16 * 1024;

// the response's framing, from its head: {status, length (-1: chunked), close}, or null
function parseHead(head) {
  const lines = head.split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})\b/.exec(lines[0]);
  if (!status) return null;
  let length = 0;
  let close = lines[0].startsWith("HTTP/1.0");
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(":");
    const name = lines[i].slice(0, colon).trim().toLowerCase();
    const value = lines[i].slice(colon + 1).trim().toLowerCase();
    if (name === "content-length") length = Number(value);
    else if (name === "transfer-encoding" && value.includes("chunked")) length = -1;
    else if (name === "connection") close = value === "close";
  }
  return { status: Number(status[1]), length, close };
}

// where the chunked body starting at `at` ends (after its last chunk and trailers), or -1
function chunkedEnd(buffer, at) {
  for (;;) {
    const lineEnd = buffer.indexOf(CRLF, at);
    if (lineEnd < 0) return -1;
    const size = parseInt(buffer.toString("latin1", at, lineEnd), 16);
    if (Number.isNaN(size)) throw new Error("bad chunk size");
    if (size === 0) {
      // trailers, if any, then a blank line
      let line = lineEnd + 2;
      for (;;) {
        const end = buffer.indexOf(CRLF, line);
        if (end < 0) return -1;
        if (end === line) return end + 2;
        line = end + 2;
      }
    }
    at = lineEnd + 2 + size + 2;
    if (at > buffer.length) return -1;
  }
}

export class HttpConnection {
  constructor(url) {
    const parsed = new URL(url);
    this.host = parsed.hostname;
    this.port = Number(parsed.port) || 80;
    this.hostHeader = parsed.host;
    this.socket = null;
    this.pending = null; // bytes of the response so far
    this.head = null; // its parsed head, once complete
    this.bodyAt = 0;
    this.settle = null; // the request in flight's resolve
  }

  // POSTs `body` (JSON); resolves with the response's status, or 0 when the connection failed
  // (the next request opens a new one)
  post(path, body) {
    if (this.settle !== null) throw new Error("one request at a time");
    if (this.socket === null) this.open();
    return new Promise((resolve) => {
      this.settle = resolve;
      this.socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
          body,
      );
    });
  }

  open() {
    const socket = net.connect({ host: this.host, port: this.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk) => this.data(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      if (this.socket === socket) this.reset(0);
    });
  }

  // the request in flight ends with `status` (0: failed, and the connection is dropped)
  reset(status) {
    if (status === 0 && this.socket !== null) {
      this.socket.destroy();
      this.socket = null;
    }
    this.pending = null;
    this.head = null;
    const settle = this.settle;
    this.settle = null;
    if (settle !== null) settle(status);
  }

  data(chunk) {
    const buffer = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = buffer;
    if (this.head === null) {
      const headEnd = buffer.indexOf(HEAD_END);
      if (headEnd < 0) {
        if (buffer.length > MAX_HEAD) this.reset(0);
        return;
      }
      this.head = parseHead(buffer.toString("latin1", 0, headEnd));
      if (this.head === null) {
        this.reset(0);
        return;
      }
      this.bodyAt = headEnd + 4;
    }
    let end;
    try {
      end = this.head.length >= 0 ? this.bodyAt + this.head.length : chunkedEnd(buffer, this.bodyAt);
    } catch {
      this.reset(0);
      return;
    }
    if (end < 0 || end > buffer.length) return;
    const { status, close } = this.head;
    if (close || end < buffer.length) {
      // closing, or bytes nobody asked for: this connection is done
      this.socket.destroy();
      this.socket = null;
    }
    this.reset(status);
  }

  close() {
    if (this.socket !== null) this.socket.destroy();
    this.socket = null;
  }
}
