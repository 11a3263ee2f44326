"""The signed share code: `{kind letter}{target id}.{sharer id}.{issued at}.{signature}`,
e.g. `r12.34.1765080000.Vt3…`. The signature is an HMAC-SHA256 of the rest with the app's
SECRET_KEY (`core.security.sign_share_code`), so a code names its sharer and target and
cannot be made up or altered; its issue time (whole seconds, UTC) lets a stale code be
refused. Kinds: `r` a room, `p` a product, `g` a group buy (its page, `/g/{code}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from core.security import share_signature, share_signature_matches
from sharing.errors import ShareCodeExpired, ShareCodeForged, ShareCodeMalformed


class TargetKind(StrEnum):
    ROOM = "room"
    PRODUCT = "product"
    GROUP = "group"


LETTERS = {TargetKind.ROOM: "r", TargetKind.PRODUCT: "p", TargetKind.GROUP: "g"}
KINDS = {letter: kind for kind, letter in LETTERS.items()}
# Ids and times are short decimals; 100 characters is far above any real code, so a longer
# one is refused before any work.
MAX_CODE_LENGTH = 100
_CODE = re.compile(r"^([rpg])([1-9][0-9]{0,17})\.([1-9][0-9]{0,17})\.([0-9]{1,12})\.([A-Za-z0-9_-]{20,64})$")


@dataclass(frozen=True, slots=True)
class ShareCode:
    kind: TargetKind
    target_id: int
    sharer_id: int
    issued_at: int  # epoch seconds

    @property
    def payload(self) -> str:
        return f"{LETTERS[self.kind]}{self.target_id}.{self.sharer_id}.{self.issued_at}"


def make_code(secret: str, code: ShareCode) -> str:
    return f"{code.payload}.{share_signature(secret, code.payload)}"


def read_code(secret: str, text: str, *, now: float, max_age_seconds: int) -> ShareCode:
    """The code's facts, or the reason it is refused: malformed, forged (a signature that is
    not ours, including any edit of a real code), expired (older than `max_age_seconds`)."""
    match = _CODE.match(text) if len(text) <= MAX_CODE_LENGTH else None
    if match is None:
        raise ShareCodeMalformed("this is not a share code", field="code")
    letter, target, sharer, issued, signature = match.groups()
    code = ShareCode(KINDS[letter], int(target), int(sharer), int(issued))
    if not share_signature_matches(secret, code.payload, signature):
        raise ShareCodeForged("this share code was not issued by this site", field="code")
    if code.issued_at > now + 300:  # a little clock skew between processes, no more
        raise ShareCodeForged("this share code claims a future issue time", field="code")
    if now - code.issued_at > max_age_seconds:
        raise ShareCodeExpired("this share link has expired; ask its sharer for a fresh one",
                               field="code")
    return code
