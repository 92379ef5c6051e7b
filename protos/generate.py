"""Generate the Python stubs and Envoy's descriptor set from protos/, or the
browser client's TypeScript, or copy for buf the google/ files protos/ imports.

    python protos/generate.py [OUT_DIR]
    python protos/generate.py --typescript OUT_DIR PROTOC_GEN_ES
    python protos/generate.py --googleapis OUT_DIR [PROTOS_DIR]

The .proto files live at protos/<pkg>/v1/*.proto and are compiled under the
virtual root `genproto/`, so the generated modules form one package,
`genproto`, whose own imports need no rewriting. OUT_DIR defaults to the
repository root; the staleness test generates into a temporary directory and
compares.
"""

import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

PACKAGE = "genproto"
ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
DESCRIPTOR_SET = "descriptor_set.pb"
BIN = Path(sys.executable).parent


def include_dirs() -> list[str]:
    """The well-known types (grpc_tools) and google/api, google/rpc (googleapis)."""
    wkt = resources.files("grpc_tools") / "_proto"
    return [f"-I{PACKAGE}={PROTOS}", f"-I{wkt}", f"-I{_googleapis()}"]


def _googleapis() -> Path:
    """Where googleapis-common-protos keeps its .proto files (google/api/…)."""
    import google.api

    return Path(google.api.__path__[0]).parent.parent


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


# The REST mapping (google.api.http) is the gateway's business: a browser
# talks grpc-web, so its generated code leaves the options out, and with them
# the whole descriptor.proto they would pull into every bundle.
HTTP_ANNOTATIONS = "google/api/annotations.proto"
# What the browser client's messages need besides our own files (well-known
# types come with @bufbuild/protobuf).
TYPESCRIPT_DEPENDENCIES = ["google/rpc/error_details.proto", "google/rpc/status.proto"]


def generate_typescript(out_dir: Path, plugin: Path) -> None:
    """protobuf-es messages and service descriptors (which Connect-ES calls), one
    `*_pb.ts` per .proto, under the files' own paths (`media/v1/media_pb.ts`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = _sources(PROTOS)
    with tempfile.TemporaryDirectory() as scratch:
        descriptors = Path(scratch) / "browser.pb"
        descriptors.write_bytes(_without_rest_mapping(_descriptor_set(PROTOS, sources), sources))
        _compile(
            [
                f"--descriptor_set_in={descriptors}",
                f"--plugin=protoc-gen-es={plugin}",
                f"--es_out={out_dir}",
                "--es_opt=target=ts,import_extension=js",
                *sources,
                *TYPESCRIPT_DEPENDENCIES,
            ]
        )


def _compile(args: list[str]) -> None:
    if protoc.main(["protoc", *args]) != 0:
        raise SystemExit("protoc failed")


def _sources(protos: Path) -> list[str]:
    return sorted(str(s.relative_to(protos)) for s in protos.rglob("*.proto"))


def _descriptor_set(protos: Path, sources: list[str]) -> bytes:
    """The serialized FileDescriptorSet of `sources`, with everything they import."""
    with tempfile.TemporaryDirectory() as scratch:
        descriptors = Path(scratch) / "descriptors.pb"
        _compile(
            [f"-I{protos}", *include_dirs()[1:], "--include_imports"]
            + [f"--descriptor_set_out={descriptors}", *sources]
        )
        return descriptors.read_bytes()


def _without_rest_mapping(serialized: bytes, sources: list[str]) -> bytes:
    files = descriptor_pb2.FileDescriptorSet.FromString(serialized)
    kept = descriptor_pb2.FileDescriptorSet()
    for file in files.file:
        if file.name.startswith("google/api/"):
            continue
        if file.name in sources:
            dependencies = [d for d in file.dependency if d != HTTP_ANNOTATIONS]
            del file.dependency[:]
            file.dependency.extend(dependencies)
            for service in file.service:
                for method in service.method:
                    method.ClearField("options")
        kept.file.append(file)
    return kept.SerializeToString()


def copy_googleapis(out_dir: Path, protos: Path = PROTOS) -> None:
    """Copy the files of googleapis-common-protos that protos/ imports (google/api,
    google/rpc, with their own imports) under out_dir, as buf's second module:
    buf has the well-known types built in, but reaches no schema registry here."""
    sources = _sources(protos)
    files = descriptor_pb2.FileDescriptorSet.FromString(_descriptor_set(protos, sources)).file
    shutil.rmtree(out_dir / "google", ignore_errors=True)
    for name in sorted({f.name for f in files} - set(sources)):
        if not name.startswith("google/protobuf/"):
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_googleapis() / name, out_dir / name)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--typescript"]:
        generate_typescript(Path(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1:2] == ["--googleapis"]:
        copy_googleapis(Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else PROTOS)
    else:
        generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
