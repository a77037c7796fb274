# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The writable fields of a UAC connection, as the Telnyx API contract
    # (CreateUacConnectionRequest / UpdateUacConnectionRequest) declares them.
    # An option left unset is not managed: neither sent nor compared.
    DOCUMENTATION = r"""
options:
  connection_name:
    description:
      - Name of the connection. Identifies it when O(id) is not given, matched exactly (case and all).
      - With O(id), the name the connection should have (a rename).
    type: str
    version_added: 0.1.0
  active:
    description:
      - Whether the connection is active. Telnyx registers to the PBX only for an active connection.
    type: bool
    version_added: 0.1.0
  user_name:
    description:
      - User name of the connection's own Telnyx credentials; Telnyx generates one when it is not given.
      - 4 to 32 letters and digits, with a letter among the first 5 characters.
    type: str
    version_added: 0.1.0
  password:
    description:
      - Password of the connection's own Telnyx credentials, 8 to 128 characters; Telnyx generates one when it is not given.
      - Write-only. See O(update_password).
    type: str
    version_added: 0.1.0
  anchorsite_override:
    description:
      - Site that handles the media; V(Latency) picks the one with the lowest round-trip time.
    type: str
    choices:
      - Latency
      - Chicago, IL
      - Ashburn, VA
      - San Jose, CA
      - Sydney, Australia
      - Amsterdam, Netherlands
      - London, UK
      - Toronto, Canada
      - Vancouver, Canada
      - Frankfurt, Germany
    version_added: 0.1.0
  dtmf_type:
    description:
      - How Telnyx sends DTMF digits to this connection.
    type: str
    choices: [RFC 2833, Inband, SIP INFO]
    version_added: 0.1.0
  encrypted_media:
    description:
      - V(SRTP) encrypts the media; V(disabled) sends no encryption (JSON V(null) in the API).
      - SRTP cannot be combined with O(external_uac_settings.transport=TLS).
    type: str
    choices: [SRTP, disabled]
    version_added: 0.1.0
  sip_uri_calling_preference:
    description:
      - Who may call the connection's SIP URI.
    type: str
    choices: [disabled, unrestricted, internal]
    version_added: 0.1.0
  default_on_hold_comfort_noise_enabled:
    description:
      - Whether Telnyx generates comfort noise while a call is on hold.
    type: bool
    version_added: 0.1.0
  encode_contact_header_enabled:
    description:
      - Whether Telnyx encodes the SIP Contact header it sends (helps with NAT and SIP ALGs).
    type: bool
    version_added: 0.1.0
  onnet_t38_passthrough_enabled:
    description:
      - Whether on-net T.38 is negotiated directly between sender and receiver.
    type: bool
    version_added: 0.1.0
  call_cost_in_webhooks:
    description:
      - Whether call cost webhooks are sent for this connection.
    type: bool
    version_added: 0.1.0
  ios_push_credential_id:
    description:
      - UUID of the iOS push credential. V("") clears it.
    type: str
    version_added: 0.1.0
  android_push_credential_id:
    description:
      - UUID of the Android push credential. V("") clears it.
    type: str
    version_added: 0.1.0
  noise_suppression:
    description:
      - Direction in which noise suppression is applied.
    type: str
    choices: [inbound, outbound, both, disabled]
    version_added: 0.1.0
  noise_suppression_details:
    description:
      - Noise suppression settings; kept even while O(noise_suppression=disabled).
      - Sent whole when any of its set suboptions differs.
    type: dict
    version_added: 0.1.0
    suboptions:
      attenuation_limit:
        description:
          - Attenuation limit, 0 to 100 in steps of 10.
        type: int
        version_added: 0.1.0
      engine:
        description:
          - Noise suppression engine.
        type: str
        choices: [denoiser, deep_filter_net, deep_filter_net_large, krisp_viva_tel, krisp_viva_tel_lite, krisp_viva_promodel, krisp_viva_ss, quail_voice_focus]
        version_added: 0.1.0
  jitter_buffer:
    description:
      - Jitter buffer for the RTP streams. Sent whole when any of its set suboptions differs.
    type: dict
    version_added: 0.1.0
    suboptions:
      enable_jitter_buffer:
        description:
          - Whether the jitter buffer is enabled.
        type: bool
        version_added: 0.1.0
      jitterbuffer_msec_max:
        description:
          - Maximum size in milliseconds, 40 to 400.
        type: int
        version_added: 0.1.0
      jitterbuffer_msec_min:
        description:
          - Minimum size in milliseconds, 40 to 400.
        type: int
        version_added: 0.1.0
  rtcp_settings:
    description:
      - RTCP settings. Sent whole when any of its set suboptions differs.
    type: dict
    version_added: 0.1.0
    suboptions:
      capture_enabled:
        description:
          - Whether RTCP messages are captured for QoS reports.
        type: bool
        version_added: 0.1.0
      port:
        description:
          - RTCP port.
        type: str
        choices: [rtcp-mux, rtp+1]
        version_added: 0.1.0
      report_frequency_secs:
        description:
          - How often RTCP reports are sent, 5 to 3000 seconds.
        type: int
        version_added: 0.1.0
  tags:
    description:
      - Tags of the connection. Compared as a set (order and repeats do not matter); the list replaces the current tags.
    type: list
    elements: str
    version_added: 0.1.0
  webhook_event_url:
    description:
      - URL that receives the connection's webhooks, with its scheme (https://...).
    type: str
    version_added: 0.1.0
  webhook_event_failover_url:
    description:
      - Failover URL for webhooks, with its scheme. V("") clears it.
    type: str
    version_added: 0.1.0
  webhook_api_version:
    description:
      - Webhook format. V(texml) needs O(outbound.call_parking_enabled=true) and can only be set when the connection is created.
    type: str
    choices: ["1", "2", texml]
    version_added: 0.1.0
  webhook_timeout_secs:
    description:
      - Seconds before a webhook times out, 0 to 30.
    type: int
    version_added: 0.1.0
  inbound:
    description:
      - Settings for calls from Telnyx to the connection. Sent whole when any of its set suboptions differs.
    type: dict
    version_added: 0.1.0
    suboptions:
      ani_number_format:
        description:
          - Format of the caller's number (ANI).
        type: str
        choices: ["+E.164", E.164, "+E.164-national", E.164-national]
        version_added: 0.1.0
      channel_limit:
        description:
          - Maximum number of simultaneous inbound calls.
        type: int
        version_added: 0.1.0
      codecs:
        description:
          - Codecs offered, in priority order (order matters).
        type: list
        elements: str
        version_added: 0.1.0
      default_routing_method:
        description:
          - Routing method for numbers associated with the connection.
        type: str
        choices: [sequential, round-robin]
        version_added: 0.1.0
      dnis_number_format:
        description:
          - Format of the dialed number (DNIS).
        type: str
        choices: ["+e164", e164, national, sip_username]
        version_added: 0.1.0
      generate_ringback_tone:
        description:
          - Whether Telnyx generates a ringback tone (183 with early media).
        type: bool
        version_added: 0.1.0
      isup_headers_enabled:
        description:
          - Whether ISUP parameters are sent as SIP headers (TCP or TLS only).
        type: bool
        version_added: 0.1.0
      prack_enabled:
        description:
          - Whether PRACK (RFC 3262) is used.
        type: bool
        version_added: 0.1.0
      shaken_stir_enabled:
        description:
          - Whether the Identity header with SHAKEN/STIR data is sent.
        type: bool
        version_added: 0.1.0
      simultaneous_ringing:
        description:
          - Whether several devices may ring at once.
        type: str
        choices: [disabled, enabled]
        version_added: 0.1.0
      sip_compact_headers_enabled:
        description:
          - Whether compact SIP headers are used.
        type: bool
        version_added: 0.1.0
      sip_region:
        description:
          - Region that inbound calls come from.
        type: str
        choices: [US, Europe, Australia]
        version_added: 0.1.0
      timeout_1xx_secs:
        description:
          - Seconds before giving up when no 1xx answer comes, 1 to 120.
        type: int
        version_added: 0.1.0
      timeout_2xx_secs:
        description:
          - Seconds before giving up on an unanswered call, 1 to 600.
        type: int
        version_added: 0.1.0
  outbound:
    description:
      - Settings for calls from the connection to Telnyx. Sent whole when any of its set suboptions differs.
    type: dict
    version_added: 0.1.0
    suboptions:
      ani_override:
        description:
          - Number that replaces the caller id on outbound calls.
        type: str
        version_added: 0.1.0
      ani_override_type:
        description:
          - When O(outbound.ani_override) applies.
        type: str
        choices: [always, normal, emergency]
        version_added: 0.1.0
      call_parking_enabled:
        description:
          - Whether calls are parked for Call Control instead of bridged.
        type: bool
        version_added: 0.1.0
      channel_limit:
        description:
          - Maximum number of simultaneous outbound calls.
        type: int
        version_added: 0.1.0
      generate_ringback_tone:
        description:
          - Whether Telnyx generates a ringback tone.
        type: bool
        version_added: 0.1.0
      instant_ringback_enabled:
        description:
          - Whether ringback starts without waiting for an indication.
        type: bool
        version_added: 0.1.0
      localization:
        description:
          - 2-letter country code whose national dialling rules apply, such as V(US).
        type: str
        version_added: 0.1.0
      outbound_voice_profile_id:
        description:
          - Numeric id of the outbound voice profile.
        type: str
        version_added: 0.1.0
      t38_reinvite_source:
        description:
          - Who sends the T.38 re-INVITE.
        type: str
        choices: [telnyx, customer, disabled, passthru, caller-passthru, callee-passthru]
        version_added: 0.1.0
  external_uac_settings:
    description:
      - The PBX side that Telnyx registers to as a SIP user agent client.
      - Sent whole (current values merged with the set suboptions) when any of its set suboptions differs; the password only when it is to be set.
    type: dict
    version_added: 0.1.0
    suboptions:
      proxy:
        description:
          - The PBX's SIP address, as a host, C(host:port) or C(sip:) URI, such as V(sip:pbx.example.com:5060).
          - Its host is the SIP domain (AOR and realm) the PBX must serve.
        type: str
        version_added: 0.1.0
      username:
        description:
          - The PBX extension or SIP user Telnyx registers as. 4 to 32 letters, digits, hyphens and underscores, starting with a letter or digit.
        type: str
        version_added: 0.1.0
      password:
        description:
          - The PBX password for O(external_uac_settings.username). Write-only. See O(update_password).
        type: str
        version_added: 0.1.0
      auth_username:
        description:
          - Digest authentication user name, when it differs from O(external_uac_settings.username). V("") clears it.
        type: str
        version_added: 0.1.0
      transport:
        description:
          - SIP transport to the PBX.
        type: str
        choices: [UDP, TCP, TLS]
        version_added: 0.1.0
      expiration_sec:
        description:
          - Registration interval in seconds (1 or more).
        type: int
        version_added: 0.1.0
      from_user:
        description:
          - User part of the SIP From header. V("") clears it.
        type: str
        version_added: 0.1.0
      outbound_proxy:
        description:
          - Outbound SIP proxy, with its C(sip:) scheme, such as V(sip:edge.example.com:5060). V("") clears it.
        type: str
        version_added: 0.1.0
      user_agent:
        description:
          - SIP User-Agent header Telnyx sends to the PBX. V("") restores Telnyx's default.
        type: str
        version_added: 0.1.0
  internal_uac_settings:
    description:
      - Where Telnyx sends calls that come from the PBX.
    type: dict
    version_added: 0.1.0
    suboptions:
      destination_uri:
        description:
          - "C(<extension>@<application>.sip.telnyx.com), without a C(sip:) prefix."
          - For example V(1006@assistant-<uuid>.sip.telnyx.com) for an AI Assistant, C(<ext>@cc-app-<id>.sip.telnyx.com) for a Call Control application.
        type: str
        version_added: 0.1.0
  update_password:
    description:
      - When to send O(password) and O(external_uac_settings.password) to an existing connection.
      - Where the API returns the current password in clear (accounts created before 2026-09-08), it is compared,
        and sent only when it differs, whatever this option says.
      - Where the API returns it masked (C(********), newer accounts), it cannot be compared. V(on_create) sends it only when the connection is created;
        V(always) sends it on every run, which then always reports a change.
    type: str
    choices: [always, on_create]
    default: on_create
    version_added: 0.1.0
  reveal_secrets:
    description:
      - Return passwords in the result as the API returned them (in clear only in the response to a create, or to an update that set them, on newer accounts).
      - Use it to hand Telnyx-generated credentials to the PBX, and keep the result out of logs. Passwords you passed in yourself stay masked by Ansible.
      - By default every password in the result is masked.
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - Passwords are write-only. The diff says when one will be set, never its value.
"""
