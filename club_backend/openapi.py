"""Write the API contract, ``club_backend/openapi.json``, from the app itself.

``python -m club_backend.openapi`` regenerates it; a test fails when the committed file
and the app disagree, so the documented contract cannot drift from the code.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from club_backend.app import create_app

CONTRACT_PATH = Path(__file__).with_name("openapi.json")


def render_contract() -> str:
    # create_app needs a database; a throwaway one keeps this free of side effects.
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Path(folder) / "contract.sqlite3", token="unused")
        schema = app.openapi()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    CONTRACT_PATH.write_text(render_contract(), encoding="utf-8")
    print(f"wrote {CONTRACT_PATH}")


if __name__ == "__main__":
    main()
