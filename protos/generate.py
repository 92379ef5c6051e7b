"""Generate the Python stubs and Envoy's descriptor set from protos/.

    python protos/generate.py [OUT_DIR]

The .proto files live at protos/<pkg>/v1/*.proto and are compiled under the
virtual root `genproto/`, so the generated modules form one package,
`genproto`, whose own imports need no rewriting. OUT_DIR defaults to the
repository root; the staleness test generates into a temporary directory and
compares.
"""

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PACKAGE = "genproto"
ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
DESCRIPTOR_SET = "descriptor_set.pb"
BIN = Path(sys.executable).parent


def include_dirs() -> list[str]:
    """The well-known types (grpc_tools) and google/api, google/rpc (googleapis)."""
    wkt = resources.files("grpc_tools") / "_proto"
    import google.api

    googleapis = Path(google.api.__path__[0]).parent.parent
    return [f"-I{PACKAGE}={PROTOS}", f"-I{wkt}", f"-I{googleapis}"]


def generate(out_dir: Path) -> None:
    sources = sorted(PROTOS.rglob("*.proto"))
    package_dir = out_dir / PACKAGE
    package_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        *include_dirs(),
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        f"--descriptor_set_out={package_dir / DESCRIPTOR_SET}",
        "--include_imports",
        *[str(s) for s in sources],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for directory in [package_dir, *[p for p in package_dir.rglob("*") if p.is_dir()]]:
        if directory.name != "__pycache__":
            (directory / "__init__.py").touch()


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
