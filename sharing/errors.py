"""Errors of share links; the web edge maps them to 4xx JSON (`code`, `field`) and, for the
browser's `/s/{code}`, to a page saying the same."""

from __future__ import annotations

from core.errors import DomainError, NotFound, PermissionDenied


class ShareCodeMalformed(DomainError):
    status_code = 400
    code = "share_code_malformed"


class ShareCodeForged(PermissionDenied):
    code = "share_code_forged"


class ShareCodeExpired(DomainError):
    status_code = 410
    code = "share_code_expired"


class ShareTargetNotFound(NotFound):
    code = "share_target_not_found"


class ShareKindUnsupported(DomainError):
    status_code = 422
    code = "share_kind_unsupported"
