// A raw TCP origin on 127.0.0.1 for misbehaving responses (truncated bodies, resets): the test
// writes the HTTP response bytes itself. Each connection gets its request head and the socket.
import type { Socket, TCPSocketListener } from "bun";

export type RawConnection = { head: string; socket: Socket<{ buf: string; done: boolean }>; index: number };

export type RawOrigin = { url: string; port: number; connections: RawConnection[]; stop(): void };

export function startRawOrigin(onRequest: (c: RawConnection) => void): RawOrigin {
  const connections: RawConnection[] = [];
  const listener: TCPSocketListener<{ buf: string; done: boolean }> = Bun.listen<{ buf: string; done: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { buf: "", done: false };
      },
      data(socket, chunk) {
        if (socket.data.done) return;
        socket.data.buf += chunk.toString("latin1");
        const end = socket.data.buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.data.done = true;
        const c = { head: socket.data.buf.slice(0, end), socket, index: connections.length };
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
