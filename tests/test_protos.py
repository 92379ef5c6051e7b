"""The generated stubs and descriptor set match protos/ (a stale stub fails here)."""

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _files(directory: Path) -> set[str]:
    return {
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name != ".generated"
    }


def test_generated_code_is_what_protos_generate_today(tmp_path: Path):
    subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), str(tmp_path)], check=True
    )

    fresh, current = tmp_path / "genproto", ROOT / "genproto"
    assert _files(fresh) == _files(current), "run `make protos`"
    stale = [
        f for f in sorted(_files(fresh)) if not filecmp.cmp(fresh / f, current / f, shallow=False)
    ]
    assert stale == [], f"stale generated files, run `make protos`: {stale}"
