"""Shared pieces of the transport security tests: the API key a leak is searched for, the proxy environment.

Import them from here (``from tests.integration.security.helpers import API_KEY``), never from a conftest.
"""

import json

API_KEY = "sec-KEY-4b8e1f0d9a27c3e5"  # distinctive, so that a leak is found by a substring search


API_HOST = "api.telnyx.test"


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def proxied(proxy):
    env = {}
    for name in PROXY_VARIABLES:
        env[name] = env[name.lower()] = proxy.url
    env["NO_PROXY"] = env["no_proxy"] = ""
    return env


def output_text(result):
    """Everything a run showed, on one line per whitespace run (Ansible wraps its warnings)."""
    return " ".join("\n".join([result.stdout, result.stderr, json.dumps(result.data, default=str)]).split())
