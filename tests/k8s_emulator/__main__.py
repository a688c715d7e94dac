"""``python -m tests.k8s_emulator --port N``: serve the emulator until interrupted."""

import argparse
import signal
import threading

from .server import Emulator


def main():
    parser = argparse.ArgumentParser(prog="python -m tests.k8s_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--namespace", action="append", default=[], help="create this namespace at start (repeatable)")
    parser.add_argument("--token", help="require 'Authorization: Bearer TOKEN'")
    parser.add_argument("--cert", help="serve HTTPS with this PEM certificate chain")
    parser.add_argument("--key", help="private key of --cert")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()
    emulator = Emulator(args.host, args.port, token=args.token, certfile=args.cert, keyfile=args.key,
                        verbose=args.verbose)
    for namespace in args.namespace:
        emulator.cluster.create_namespace(namespace)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *unused: stopped.set())
    print("Kubernetes API emulator listening on %s" % emulator.start(), flush=True)
    stopped.wait()
    emulator.stop()


if __name__ == "__main__":
    main()
