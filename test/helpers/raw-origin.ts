// A raw TCP origin on 127.0.0.1 for misbehaving responses (truncated bodies, resets, stalls): the
// test writes the HTTP response bytes itself. write() queues and honours backpressure (Bun's
// socket.write may take only part of a buffer); end() closes after the queue has drained.
import type { Socket, TCPSocketListener } from "bun";

type State = { buf: string; done: boolean; queue: Uint8Array[]; ending: boolean };

export type RawConnection = {
  head: string;
  index: number;
  write(data: Uint8Array | string): void;
  end(): void;
};

export type RawOrigin = { url: string; port: number; connections: RawConnection[]; stop(): void };

function flush(socket: Socket<State>): void {
  const q = socket.data.queue;
  while (q.length > 0) {
    const chunk = q[0]!;
    const n = socket.write(chunk);
    if (n < chunk.byteLength) {
      q[0] = chunk.subarray(Math.max(0, n));
      return; // wait for drain
    }
    q.shift();
  }
  if (socket.data.ending) socket.end();
}

export function startRawOrigin(onRequest: (c: RawConnection) => void): RawOrigin {
  const connections: RawConnection[] = [];
  const listener: TCPSocketListener<State> = Bun.listen<State>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { buf: "", done: false, queue: [], ending: false };
      },
      drain(socket) {
        flush(socket);
      },
      data(socket, chunk) {
        if (socket.data.done) return;
        socket.data.buf += chunk.toString("latin1");
        const end = socket.data.buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.data.done = true;
        const c: RawConnection = {
          head: socket.data.buf.slice(0, end),
          index: connections.length,
          write(data) {
            socket.data.queue.push(typeof data === "string" ? new TextEncoder().encode(data) : data);
            flush(socket);
          },
          end() {
            socket.data.ending = true;
            flush(socket);
          },
        };
        connections.push(c);
        onRequest(c);
      },
    },
  });
  return { url: `http://127.0.0.1:${listener.port}`, port: listener.port, connections, stop: () => listener.stop(true) };
}

/** The value of a request header in a raw head, lower-cased name. */
export function headerOf(head: string, name: string): string | null {
  for (const line of head.split("\r\n").slice(1)) {
    const i = line.indexOf(":");
    if (i > 0 && line.slice(0, i).trim().toLowerCase() === name) return line.slice(i + 1).trim();
  }
  return null;
}

/** Answer a resume: 206 with `body` from byte `start` to its end under `etag` (quoted), then close. */
export function sendRestFrom(c: RawConnection, body: Uint8Array, start: number, etag: string): void {
  c.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length - start}\r\nContent-Range: bytes ${start}-${body.length - 1}/${body.length}\r\nETag: ${etag}\r\n\r\n`);
  c.write(body.subarray(start));
  c.end();
}
