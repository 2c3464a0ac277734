"""http_output: alerts POSTed to a webhook.

Step 9 of the pipeline (delivered).  One request per alert; the body is Falco's line (JSON
with `json_output`, else text) or `http_output.template` rendered (config/template.py), with
the configured headers and content type.  TLS certificates are verified unless
`http_output.insecure` (and `ca_cert` names a private CA).

Outcomes, as the dispatcher needs them: a 2xx is delivered; a transport error, a timeout, 408,
425, 429 or a 5xx is temporary (retried with backoff, then spooled until the endpoint is back);
any other status is permanent -- the receiver refuses this alert, sending it again cannot help
-- so it goes to the dead-letter file instead of blocking the spool behind it.
"""

from __future__ import annotations

import ssl

import httpx

from ...config.settings import Config
from ..format import Alert
from . import Channel, DeliveryError, Renderer
from ...config.template import Template, compile_template

TEMPORARY_STATUS = frozenset({408, 425, 429})


class HttpChannel(Channel):
    name = "http"
    spool_on_failure = True

    def __init__(self, renderer: Renderer, config: Config) -> None:
        section = config.http_output
        self.renderer = renderer
        self.url: str = section.url
        text: str = section.template
        if section.template_file:
            with open(section.template_file, encoding="utf-8") as handle:
                text = handle.read()
        self.template: Template | None = compile_template(text) if text else None
        content_type: str = section.content_type or (
            "application/json" if self.template is not None or renderer.json_output else "text/plain")
        self.headers = {"User-Agent": section.user_agent, "Content-Type": content_type,
                        **dict(section.headers)}
        self.verify: bool | ssl.SSLContext = True
        if section.insecure:
            self.verify = False
        elif section.ca_cert:
            self.verify = ssl.create_default_context(cafile=section.ca_cert)
        self.timeout: float = section.timeout
        self.max_send_seconds = self.timeout * 4 + 1.0
        self._client: httpx.Client | None = None

    def body(self, alert: Alert) -> str:
        if self.template is not None:
            return self.template.render(self.renderer.template_data(alert))
        return self.renderer.line(alert)

    def send(self, alert: Alert) -> None:
        if self._client is None:
            self._client = httpx.Client(verify=self.verify, timeout=self.timeout,
                                        headers=self.headers, follow_redirects=False)
        try:
            response = self._client.post(self.url, content=self.body(alert).encode())
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"HTTP {status} {response.reason_phrase}".rstrip()
        if status >= 500 or status in TEMPORARY_STATUS:
            raise DeliveryError(detail)
        raise DeliveryError(f"{detail}: {response.text[:200]}", permanent=True)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
