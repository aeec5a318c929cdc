"""A real SMTP server for the tests (aiosmtpd): stores every message it accepts as DIR/NNNN.eml.

    python3 smtp_sink.py DIR [--fail-first N]

Prints its port on the first line, then serves until its standard input closes. With
--fail-first N, the first N messages are refused with a transient 451.
"""
import os
import socket
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder, fail_first):
        self.folder = folder
        self.fail_first = fail_first
        self.seen = 0
        self.stored = 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen <= self.fail_first:
            return "451 4.3.0 Try again later"
        self.stored += 1
        path = os.path.join(self.folder, f"{self.stored:04}.eml")
        with open(path + ".partial", "wb") as out:
            out.write(envelope.original_content or envelope.content)
        os.rename(path + ".partial", path)
        return "250 2.0.0 Message accepted for delivery"


def main():
    folder = sys.argv[1]
    fail_first = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--fail-first" else 0
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Sink(folder, fail_first), hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
