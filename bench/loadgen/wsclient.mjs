// A minimal RFC 6455 client for the load generator: one TCP socket, the upgrade request written
// by hand, the server's frames read in place from the socket's chunks (no copy, no string, no
// event per frame) and the client's frames masked. What the bench needs: text and binary
// messages (fragmented or not), ping, pong and close.
//
// It replaces `ws`, whose per-frame stream machinery (a Writable per socket, an event and a
// Buffer per message, a string per frame) cost the load generator as much CPU per delivery as
// the fastest server it measured: at saturation the load generator, not the server, set the
// rate (bench/RESULTS.md).
import net from "node:net";
import { createHash, randomBytes, randomFillSync } from "node:crypto";

import { now } from "./clock.mjs";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_PAYLOAD = 10 * 1024 * 1024;
const MAX_HEAD = 16 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n");

const TEXT = 0x1;
const CONTINUATION = 0x0;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

// masking keys, drawn from the CSPRNG 1,024 at a time
const keys = Buffer.alloc(4096);
let keyAt = keys.length;

function nextKey() {
  if (keyAt === keys.length) {
    randomFillSync(keys);
    keyAt = 0;
  }
  keyAt += 4;
  return keyAt - 4;
}

// one masked client frame: `text` (a string, UTF-8) or `bytes` (a Buffer) as its payload
export function encodeFrame(opcode, text, bytes = null) {
  const n = bytes === null ? Buffer.byteLength(text) : bytes.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + 4 + n);
  frame[0] = 0x80 | opcode;
  if (head === 2) frame[1] = 0x80 | n;
  else if (head === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  const key = nextKey();
  keys.copy(frame, head, key, key + 4);
  const start = head + 4;
  if (bytes === null) frame.write(text, start, n, "utf8");
  else bytes.copy(frame, start);
  for (let i = 0; i < n; i++) frame[start + i] ^= keys[key + (i & 3)];
  return frame;
}

function acceptFor(key) {
  return createHash("sha1").update(key + GUID).digest("base64");
}

// null if `head` (the response's status line and headers) accepts the upgrade, else the error
function handshakeError(head, accept) {
  const lines = head.split("\r\n");
  if (!/^HTTP\/1\.1 101\b/.test(lines[0])) return new Error(`upgrade refused: ${lines[0]}`);
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(":");
    if (colon < 0 || lines[i].slice(0, colon).trim().toLowerCase() !== "sec-websocket-accept") {
      continue;
    }
    if (lines[i].slice(colon + 1).trim() === accept) return null;
    return new Error("wrong Sec-WebSocket-Accept");
  }
  return new Error("no Sec-WebSocket-Accept");
}

// Callbacks, set by the owner: onopen(), onmessage(buffer, start, end, receivedAt) for each
// message (its payload is buffer[start:end], valid during the call; receivedAt is when the chunk
// that completed it was read, one clock reading per chunk), onclose(error or null), once.
export class WebSocketClient {
  constructor(url) {
    const parsed = new URL(url);
    const port = Number(parsed.port) || 80;
    const key = randomBytes(16).toString("base64");
    this.accept = acceptFor(key);
    this.open = false;
    this.closed = false;
    this.error = null;
    this.pending = null; // the bytes of an incomplete head or frame
    this.fragments = null; // the parts of a fragmented message so far
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    const socket = net.connect({ host: parsed.hostname, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk) => this.data(chunk));
    socket.on("error", (error) => (this.error = this.error || error));
    socket.on("close", () => this.closedNow());
    socket.write(
      `GET ${parsed.pathname}${parsed.search} HTTP/1.1\r\n` +
        `Host: ${parsed.host}\r\n` +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        `Sec-WebSocket-Key: ${key}\r\n` +
        "Sec-WebSocket-Version: 13\r\n\r\n",
      "latin1",
    );
  }

  send(text) {
    if (!this.open || this.socket.destroyed) return false;
    this.socket.write(encodeFrame(TEXT, text));
    return true;
  }

  // drops the connection at once, without a closing handshake
  terminate() {
    if (!this.closed) this.socket.destroy();
  }

  fail(error) {
    this.error = this.error || error;
    this.socket.destroy();
  }

  closedNow() {
    if (this.closed) return;
    this.closed = true;
    this.open = false;
    if (this.onclose) this.onclose(this.error);
  }

  data(chunk) {
    let buffer = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let at = 0;
    if (!this.open) {
      const headEnd = buffer.indexOf(HEAD_END);
      if (headEnd < 0) {
        if (buffer.length > MAX_HEAD) this.fail(new Error("upgrade response too long"));
        else this.pending = buffer;
        return;
      }
      const error = handshakeError(buffer.toString("latin1", 0, headEnd), this.accept);
      if (error) {
        this.fail(error);
        return;
      }
      this.open = true;
      if (this.onopen) this.onopen();
      at = headEnd + 4;
    }
    const receivedAt = now();
    // a failure or a terminate() in a callback ends the chunk: destroy() is synchronous, the
    // close event is not
    while (!this.socket.destroyed) {
      const left = buffer.length - at;
      if (left < 2) break;
      const second = buffer[at + 1];
      if (second & 0x80) {
        this.fail(new Error("masked frame from the server"));
        return;
      }
      let length = second & 0x7f;
      let head = 2;
      if (length === 126) {
        if (left < 4) break;
        length = buffer.readUInt16BE(at + 2);
        head = 4;
      } else if (length === 127) {
        if (left < 10) break;
        length = buffer.readUInt32BE(at + 2) * 2 ** 32 + buffer.readUInt32BE(at + 6);
        head = 10;
      }
      if (length > MAX_PAYLOAD) {
        this.fail(new Error(`frame of ${length} bytes`));
        return;
      }
      if (left < head + length) break;
      const start = at + head;
      at = start + length;
      this.frame(buffer[start - head], buffer, start, at, receivedAt);
    }
    if (!this.socket.destroyed && at < buffer.length) this.pending = buffer.subarray(at);
  }

  frame(first, buffer, start, end, receivedAt) {
    const opcode = first & 0x0f;
    const fin = (first & 0x80) !== 0;
    if (opcode === TEXT || opcode === BINARY) {
      if (this.fragments !== null) this.fail(new Error("a message inside a fragmented one"));
      else if (fin) this.onmessage(buffer, start, end, receivedAt);
      else this.fragments = [buffer.subarray(start, end)];
    } else if (opcode === CONTINUATION) {
      if (this.fragments === null) {
        this.fail(new Error("a continuation without a message"));
        return;
      }
      this.fragments.push(buffer.subarray(start, end));
      if (fin) {
        const whole = Buffer.concat(this.fragments);
        this.fragments = null;
        this.onmessage(whole, 0, whole.length, receivedAt);
      }
    } else if (opcode === PING) {
      this.socket.write(encodeFrame(PONG, null, buffer.subarray(start, end)));
    } else if (opcode === CLOSE) {
      // the closing handshake: the server's status code back, then the TCP close
      this.socket.end(encodeFrame(CLOSE, null, buffer.subarray(start, Math.min(end, start + 2))));
      this.open = false;
    } else if (opcode !== PONG) {
      this.fail(new Error(`opcode ${opcode}`));
    }
  }
}
