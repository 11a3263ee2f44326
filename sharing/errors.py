"""Errors of share links; the web edge maps them to 4xx JSON (`code`, `field`) and, for the
browser's `/s/{code}`, to a page saying the same."""

from __future__ import annotations

from core.errors import DomainError, Gone, NotFound, PermissionDenied, Unprocessable


class ShareCodeMalformed(DomainError):
    code = "share_code_malformed"


class ShareCodeForged(PermissionDenied):
    code = "share_code_forged"


class ShareCodeExpired(Gone):
    code = "share_code_expired"


class ShareTargetNotFound(NotFound):
    code = "share_target_not_found"


class ShareKindUnsupported(Unprocessable):
    code = "share_kind_unsupported"
