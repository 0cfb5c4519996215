"""The demo workspace: the bundled fictional exports of "Sam" plus a clonekit.toml that
names Sam as "me", tags the contacts, fills in Sam's persona card and caps the partner
chat (which holds most of the messages) at 40% of the tokens."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from builder.demo_data import DEMO_CONTACT_ROLES, DEMO_PERSONA, materialize_demo
from builder.workspace import Workspace

DEFAULT_DIR = "demo-workspace"
DEMO_NAME = "demo"
DEMO_MAX_SHARE = 0.4
# The demo's chats are short bursts; the default 100-token floor would keep few sessions.
DEMO_MIN_SESSION_TOKENS = 40
# The names Sam writes under in these exports (every `me` alias must match a sender; the
# Discord username "samkellett" is not one: Discord shows the nickname).
DEMO_ME = list(dict.fromkeys(DEMO_PERSONA["aliases_by_export"].values()))


def demo_config(exports: list[str]) -> dict[str, Any]:
    return {
        "build": {"name": DEMO_NAME, "sources": exports, "me": list(DEMO_ME)},
        "contacts": {"roles": dict(DEMO_CONTACT_ROLES)},
        "persona": {"name": DEMO_PERSONA["name"], "facts": list(DEMO_PERSONA["facts"]),
                    "style": DEMO_PERSONA["style"]},
        "sessions": {"min_tokens": DEMO_MIN_SESSION_TOKENS},
        "balance": {"max_share": DEMO_MAX_SHARE, "share_by": "tokens", "strategy": "random"},
    }


def create_demo_workspace(path: str | os.PathLike = DEFAULT_DIR) -> Workspace:
    """Create (or refresh) the demo workspace at ``path``: exports extracted into
    ``exports/`` (unchanged files are left alone) and clonekit.toml reset to the demo
    settings. Datasets and runs already there are kept."""
    ws = Workspace(Path(path).expanduser())
    ws.root.mkdir(parents=True, exist_ok=True)
    materialize_demo(ws.root)
    ws.data = {}
    ws.update({f"{section}.{key}": value
               for section, table in demo_config(["exports"]).items() for key, value in table.items()})
    return ws
