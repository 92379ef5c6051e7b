"""python -m media_service.janitor: one pass of the janitor
(media_service.cleanup), its counts printed as JSON."""

import json

from media_service.app import janitor_for
from media_service.config import MediaConfig
from mesh import tracing
from mesh.service import configured


def main() -> None:
    config = configured("media_service.janitor", MediaConfig.from_env)
    with tracing.traced_run("media_service.janitor", "janitor pass"):
        counts = janitor_for(config).run_pass()
    print(json.dumps(dict(counts)))


if __name__ == "__main__":
    main()
