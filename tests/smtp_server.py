"""A real SMTP server on a local port for the tests of mail delivery: it speaks enough of RFC 5321
for Django's SMTP backend (smtplib), keeps every message it accepts, and can refuse the next N
messages with a temporary failure (451) or hang up on them, as a mail relay that is down does."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message


@dataclass
class Mailbox:
    accepted: list[Message] = field(default_factory=list)
    refuse_next: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While ``gate`` is clear, a message's final "." waits for it: the sender is held mid-send.
    gate: threading.Event = field(default_factory=threading.Event)
    # Set when a message reached its final "." (and waits at the gate, if closed).
    arrived: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.gate.set()

    def decide(self) -> bool:
        """True to accept the message now ending, False to refuse it."""
        with self.lock:
            if self.refuse_next > 0:
                self.refuse_next -= 1
                self.refused += 1
                return False
            return True


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())
        self.wfile.flush()

    def handle(self) -> None:
        self._reply("220 localhost test SMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode(errors="replace").strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self._reply("250 localhost")
            elif command.startswith(("MAIL FROM", "RCPT TO", "RSET", "NOOP")):
                self._reply("250 OK")
            elif command == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                body = b""
                while True:
                    chunk = self.rfile.readline()
                    if not chunk or chunk == b".\r\n":
                        break
                    body += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.mailbox.arrived.set()
                self.server.mailbox.gate.wait(timeout=60)
                if self.server.mailbox.decide():
                    self.server.mailbox.accepted.append(message_from_bytes(body))
                    self._reply("250 OK queued")
                else:
                    self._reply("451 4.3.0 Temporary failure, try again later")
            elif command == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mailbox: Mailbox


class SMTPServer:
    """``with SMTPServer() as smtp:`` listens on 127.0.0.1:``smtp.port`` until the block ends."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.mailbox = self.mailbox
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SMTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
