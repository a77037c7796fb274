# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The connection options every telnyx.sip module takes.
    DOCUMENTATION = r"""
options:
  api_key:
    description:
      - "Telnyx API v2 key, sent as C(Authorization: Bearer)."
      - If not set, the value of the E(TELNYX_API_KEY) environment variable is used. An empty variable counts as unset.
      - Set it once for every module of the collection with O(ignore:module_defaults) and the C(group/telnyx.sip.uac) action group.
    type: str
    version_added: 0.1.0
  api_url:
    description:
      - Base URL of the Telnyx API, including the C(/v2) path.
      - If not set, the value of the E(TELNYX_BASE_URL) environment variable is used, and then V(https://api.telnyx.com/v2).
      - Point it at the collection's local emulator (C(python -m tests.emulator)) to run playbooks without an account.
      - A plain C(http://) URL is refused before any request unless its host is this machine (V(localhost), 127.0.0.0/8
        or V(::1)), because the API key would travel in clear text; see O(allow_insecure_http).
      - A loopback URL is always reached directly, never through a proxy from the environment.
    type: str
    version_added: 0.1.0
  allow_insecure_http:
    description:
      - Allow an O(api_url) with plain C(http://) to a host that is not this machine. The API key and every password
        then travel in clear text, readable and changeable by anything on the network path.
      - Only for a trusted network, such as a CI network where the emulator runs in another container. Every run with
        it prints a warning.
      - If not set, the value of the E(TELNYX_ALLOW_INSECURE_HTTP) environment variable is used (V(true) or V(false)).
      - Not needed for C(https://), nor for C(http://) to V(localhost), 127.0.0.0/8 or V(::1) (the local emulator).
    type: bool
    default: false
    version_added: 0.1.0
  timeout:
    description:
      - Seconds to wait for each API response before the request counts as failed (and is retried when that is safe).
    type: float
    default: 30
    version_added: 0.1.0
  validate_certs:
    description:
      - Whether to verify the API's TLS certificate. Only set V(false) for a test endpoint you trust.
      - With V(false), every run prints a warning, since anyone on the network path could then pose as the API and
        read the API key. Trusting the endpoint's CA with O(ca_path) is the better way.
    type: bool
    default: true
    version_added: 0.1.0
  ca_path:
    description:
      - PEM file of the certificate authorities to trust for the API's TLS certificate, instead of the system's.
      - Ignored when O(validate_certs=false). Without it, C(REQUESTS_CA_BUNDLE) is honoured when set.
    type: path
    version_added: 0.1.0
  retries:
    description:
      - How many times a request is retried after a rate limit (429), a conflict (409), a timeout, a lost connection or a server error (5xx).
      - Waits grow exponentially with jitter, capped at 30 seconds, and follow C(Retry-After) and C(x-ratelimit-reset) when the API sends them.
      - A create whose outcome is unknown is looked up by name before it is sent again, so a retry never creates a duplicate.
      - 401 and 403 (a wrong or unauthorised key) are never retried.
    type: int
    default: 5
    version_added: 0.1.0
requirements:
  - requests (Python library, on the host that runs the module)
notes:
  - Proxies come from the environment of the host that runs the module (E(HTTPS_PROXY), E(HTTP_PROXY), E(NO_PROXY),
    in upper or lower case). An C(https://) API URL goes through an HTTP proxy as a C(CONNECT) tunnel, so the proxy
    sees the host name but never the API key. In AWX, set these variables in the job's environment (Settings, Job
    settings, Extra Environment Variables, or the execution environment).
"""
