"""The KATO Explorer: the web UI's static files (HTML, CSS, ES modules), served at ``/ui`` by
``kato.api.routes_ui``. Plain files, no build step: ``pip install`` ships them as package data.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
