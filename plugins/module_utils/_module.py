# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every telnyx.sip module does around its own logic.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

``TelnyxModule`` merges the connection options into the module's argument
spec, reports a missing ``requests`` with ``missing_required_lib``, builds the
one client, and turns bad input and API errors into ``fail_json`` without a
traceback and without secrets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION
from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.telnyx.sip.plugins.module_utils._client import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    TelnyxClient,
    TelnyxError,
    connection_argument_spec,
    insecure_url_problem,
    transport_warnings,
)
from ansible_collections.telnyx.sip.plugins.module_utils._resource import ValidationError


class TelnyxModule(AnsibleModule):
    """An AnsibleModule with the Telnyx connection options and one client."""

    def __init__(self, argument_spec, **kwargs):
        spec = connection_argument_spec()
        spec.update(argument_spec)
        super(TelnyxModule, self).__init__(argument_spec=spec, **kwargs)
        self._client = None

    @property
    def client(self):
        if self._client is None:
            if not HAS_REQUESTS:
                self.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
            try:
                self._client = TelnyxClient(
                    api_key=self.params["api_key"],
                    api_url=self.params["api_url"],
                    timeout=self.params["timeout"],
                    validate_certs=self.params["validate_certs"],
                    ca_path=self.params["ca_path"],
                    retries=self.params["retries"],
                    ansible_version=ANSIBLE_VERSION,
                    allow_insecure_http=self.params["allow_insecure_http"],
                )
            except TelnyxError as exc:
                self.fail_json(**exc.to_result())
        return self._client

    def check_connection_options(self):
        """Bad connection options fail before any request; weakened transport security warns, every run."""
        problems = []
        if self.params["timeout"] <= 0:
            problems.append("timeout must be greater than 0, got %s" % self.params["timeout"])
        if self.params["retries"] < 0:
            problems.append("retries must be 0 or more, got %s" % self.params["retries"])
        url = self.params.get("api_url")
        if url is not None and not url.lower().startswith(("http://", "https://")):
            problems.append("api_url must be an http(s) URL such as https://api.telnyx.com/v2, got %r" % url)
        else:
            insecure = insecure_url_problem(url, self.params["allow_insecure_http"])
            if insecure:
                problems.append(insecure)
        if problems:
            self.fail_json(msg="; ".join(problems))
        for warning in transport_warnings(url, self.params["validate_certs"], self.params["allow_insecure_http"]):
            self.warn(warning)

    def run(self, body):
        """Run ``body(module)``; exit with what it returns, fail cleanly on errors."""
        self.check_connection_options()
        try:
            result = body(self)
        except ValidationError as exc:
            self.fail_json(msg=str(exc))
        except TelnyxError as exc:
            self.fail_json(**exc.to_result())
        self.exit_json(**result)
