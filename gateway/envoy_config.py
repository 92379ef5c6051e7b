"""Rendering envoy/envoy.yaml.j2 for the ports, origins and keys in use."""

from pathlib import Path
from urllib.parse import urlparse

import jinja2

from gateway.settings import ROOT, Settings

TEMPLATE = ROOT / "envoy" / "envoy.yaml.j2"
DESCRIPTOR_SET = ROOT / "genproto" / "descriptor_set.pb"
INTERNAL_METHODS = ["AttachMedia", "DetachMedia", "ListPostMedia"]
# HTTP status of a reply Envoy makes itself -> the gRPC code in its JSON body.
LOCAL_REPLY_CODES = [
    (400, 3),
    (401, 16),
    (403, 7),
    (404, 5),
    (413, 8),
    (429, 8),
    (503, 14),
    (504, 4),
]


def render(settings: Settings) -> str:
    template = jinja2.Template(
        TEMPLATE.read_text(), undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    jwks = urlparse(settings.jwks_url or "")
    return template.render(
        host=settings.host,
        gateway_port=settings.gateway_port,
        admin_port=settings.admin_port,
        upstream_host=settings.host,
        upstreams=[
            ("media_service", settings.media_port, "media.v1.MediaService"),
            ("post_service", settings.post_port, "post.v1.PostService"),
        ],
        cors_origins=settings.cors_origins,
        internal_methods=INTERNAL_METHODS,
        local_reply_codes=LOCAL_REPLY_CODES,
        jwt_issuer=settings.jwt_issuer,
        jwt_audience=settings.jwt_audience,
        jwks_url=settings.jwks_url,
        jwks_path=settings.jwks_path,
        jwks_host=jwks.hostname,
        jwks_port=jwks.port or (443 if jwks.scheme == "https" else 80),
        jwks_tls=jwks.scheme == "https",
        descriptor_set=DESCRIPTOR_SET,
    )


def write(settings: Settings) -> Path:
    path = settings.data_dir / "envoy.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(settings))
    return path
