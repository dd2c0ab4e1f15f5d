"""gunicorn's logger with share-link tokens masked (``--logger-class``, see the README).

gunicorn writes its access log itself, outside Django's logging: the request line (``%(r)s``),
the path (``%(U)s``), the referrer and any header or environ atom would keep a recipient's
bearer token from a link of the old form (``/shares/<token>/audio``). Every string atom is
masked before the format is applied; the error log (``Error handling request /shares/...``)
gets the same filter.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from compliance_site.log_redaction import ShareTokenRedactingFilter, mask_share_tokens


class RedactingLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        # setup runs again on a reload (SIGHUP): one filter is enough.
        if not any(isinstance(f, ShareTokenRedactingFilter) for f in self.error_log.filters):
            self.error_log.addFilter(ShareTokenRedactingFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: mask_share_tokens(v) if isinstance(v, str) else v for name, v in atoms.items()}
