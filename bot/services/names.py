"""Names of branches, groups and members, as they are stored and looked up.

Every name that enters (a roster row, a name typed after a command) is normalised the same way,
so `张\u200b三` and `张三` are one member and a name of invisible characters only is empty.
"""

from __future__ import annotations

import unicodedata

# The longest names accepted (in characters, after normalising): what a chat preview, /members
# and the exports show comfortably, well inside the columns (storage/models.py).
MAX_MEMBER_NAME = 30
MAX_UNIT_NAME = 50  # a branch or group


def normalise_name(text: str) -> str:
    """NFKC (full-width letters and digits become plain ones), without format characters
    (category Cf: zero-width spaces, joiners, bidi marks, BOM) or control characters, with runs
    of whitespace made one space and the ends stripped. May be empty."""
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(
        ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cf", "Cc")
    )
    return " ".join(kept.split())
