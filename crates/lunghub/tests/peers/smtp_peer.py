"""A misbehaving SMTP server for lunghub's mail tests, on aiosmtpd.

Usage: smtp_peer.py PORT OUT [--vanish-after N] [--rcpt-delay SECONDS]

Stores each accepted message as OUT/<random>.eml (written whole, then renamed). Refuses
for good (550) every recipient whose address contains "refused"; answers 451 (try later)
the first time it sees a recipient whose address contains "busy". With --vanish-after N,
exits after accepting N news messages (those with a List-Unsubscribe header): a server
that goes away mid-batch. With --rcpt-delay, waits before answering each RCPT: a slow
server, so that a batch takes a while.
"""

import argparse
import asyncio
import os
import uuid

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, out, vanish_after, rcpt_delay):
        self.out = out
        self.vanish_after = vanish_after
        self.rcpt_delay = rcpt_delay
        self.news = 0
        self.busy_seen = set()
        self.one_at_a_time = asyncio.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_delay:
            async with self.one_at_a_time:
                await asyncio.sleep(self.rcpt_delay)
        if "refused" in address:
            return "550 5.1.1 No such mailbox here"
        if "busy" in address and address not in self.busy_seen:
            self.busy_seen.add(address)
            return "451 4.3.0 Busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        name = uuid.uuid4().hex
        tmp = os.path.join(self.out, "." + name + ".partial")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.out, name + ".eml"))
        if b"\nList-Unsubscribe:" in data or data.startswith(b"List-Unsubscribe:"):
            self.news += 1
            if self.vanish_after and self.news >= self.vanish_after:
                # Gone just after this reply: the message was accepted and answered.
                asyncio.get_running_loop().call_later(0.05, os._exit, 0)
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("out")
    parser.add_argument("--vanish-after", type=int, default=0)
    parser.add_argument("--rcpt-delay", type=float, default=0.0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    handler = Handler(args.out, args.vanish_after, args.rcpt_delay)
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler), "127.0.0.1", args.port)
    )
    print("listening", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
