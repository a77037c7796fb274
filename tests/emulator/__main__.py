"""Command line: python3 -m tests.emulator --host 127.0.0.1 --port 0 [options]."""

import argparse
import sys

from . import faults, persistence
from .config import EmulatorConfig
from .registrar_client import add_arguments as add_sip_arguments, config_from_args as sip_config
from .server import serve


def _share(text):
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _non_negative(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _positive_seconds(text):
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m tests.emulator",
        description="Local emulator of the Telnyx v2 API for UAC connections (SIP Attach).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_non_negative, default=0,
                        help="port to listen on; 0 picks a free one (default 0)")
    parser.add_argument("--api-key", help="accept only this bearer token (default: any non-empty one)")
    add_sip_arguments(parser)
    parser.add_argument("--latency-ms", type=_non_negative, default=0,
                        help="milliseconds added to every API response")
    parser.add_argument("--rate-limit", type=_positive,
                        help="requests a window per API key, shared by every client of the key; beyond it 429 "
                             "(default: unlimited)")
    parser.add_argument("--rate-window", type=_positive_seconds, default=1.0,
                        help="seconds of a rate-limit window (default 1)")
    parser.add_argument("--fail-rate", type=_share, default=0.0,
                        help="share (0..1) of API requests answered with 500 or 503 before acting")
    parser.add_argument("--seed", type=int, help="seed for generated ids, passwords and faults")
    parser.add_argument("--plaintext-passwords", action="store_true",
                        help="serve passwords in clear, as older accounts see them")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    faults.add_arguments(parser)
    persistence.add_arguments(parser)
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return args


def main(argv=None):
    args = parse_args(argv)
    config = EmulatorConfig(
        api_key=args.api_key,
        **sip_config(args),
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        fail_rate=args.fail_rate,
        seed=args.seed,
        plaintext_passwords=args.plaintext_passwords,
        faults=faults.settings_from_args(args),
        state_file=args.state,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    serve(config, args.host, args.port, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
