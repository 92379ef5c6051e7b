"""python -m gateway run | token USER | envoy-config

run           start the whole local mesh in the foreground (Ctrl-C stops it)
token USER    print a JWT for USER that the local gateway accepts (1 hour)
envoy-config  print the rendered Envoy config
"""

import signal
import sys
import threading

from gateway import devkeys, envoy_config
from gateway.localmesh import LocalMesh
from gateway.processes import StartError
from gateway.settings import Settings
from mesh.config import ConfigError


def run(settings: Settings) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalMesh(settings):
        storage = "embedded S3 server" if settings.s3_endpoint_url is None else settings.storage_url
        database = settings.database_url or f"SQLite under {settings.data_dir}"
        broker = settings.broker_url or "in-process worker"
        demo = f"http://{settings.host}:{settings.demo_port}/#token={devkeys.mint_token(settings, 'alice')}"
        print(
            f"\nmedia mesh is up\n"
            f"  gateway   {settings.gateway_url}  (REST, grpc-web, gRPC)\n"
            f"  demo      {demo}\n"
            f"            (as alice, for an hour)\n"
            f"  storage   {storage}\n"
            f"  database  {database}\n"
            f"  jobs      {broker}\n\n"
            f"  get a token:  make token USER=alice\n"
            f"  Ctrl-C stops everything.\n",
            flush=True,
        )
        stop.wait()
        print("stopping...", flush=True)


def main(argv: list[str]) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    command = argv[0] if argv else ""
    if command == "run":
        try:
            run(settings)
        except StartError as error:
            print(f"gateway: {error}", file=sys.stderr)
            return 1
    elif command == "token" and len(argv) == 2:
        print(devkeys.mint_token(settings, argv[1]))
    elif command == "envoy-config":
        print(envoy_config.render(settings))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
