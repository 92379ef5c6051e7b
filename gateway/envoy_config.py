"""Rendering envoy/envoy.yaml.j2 for the ports, origins and keys in use."""

import ipaddress
from pathlib import Path
from urllib.parse import urlparse

import jinja2

from gateway.services import INTERNAL_METHODS, UPSTREAMS, read_methods, stream_methods
from gateway.settings import ROOT, Endpoint, Settings
from mesh.auth import ON_BEHALF_OF_HEADER, SERVICE_TOKEN_HEADER
from mesh.errors import local_reply_codes

TEMPLATE = ROOT / "envoy" / "envoy.yaml.j2"
# The repository's; Settings.descriptor_set names the one a config refers to.
DESCRIPTOR_SET = ROOT / "genproto" / "descriptor_set.pb"
INTERNAL_HEADERS = [SERVICE_TOKEN_HEADER, ON_BEHALF_OF_HEADER]
# Reads (GET in REST) are retried; streams have no route timeout.
READ_METHODS = read_methods()
STREAM_METHODS = stream_methods()
# gRPC for a service the gateway does not know goes to the first service's
# cluster, which answers UNIMPLEMENTED.
FALLBACK_CLUSTER = UPSTREAMS[0].name
# A stream silent this long is cut; the services send keep-alives every
# WATCH_KEEPALIVE_SECONDS (10 s by default), well within it.
STREAM_IDLE_TIMEOUT_SECONDS = 30
# The largest real REST body is a complete-multipart of 10,000 parts (~0.6 MB).
MAX_REST_BODY_BYTES = 1024 * 1024
# A REST reply is one transcoded message: gRPC's default message limit.
MAX_REST_RESPONSE_BYTES = 4 * 1024 * 1024
MAX_DOWNSTREAM_CONNECTIONS = 10_000
# Past 80 % of this heap Envoy closes idle connections sooner, at 95 % it
# returns free memory, at 98 % it refuses new requests (503).
MAX_HEAP_BYTES = 1024 * 1024 * 1024
# Edge-proxy limits (Envoy's best practices for an edge proxy): what one
# connection may buffer and the header block of one request may take.
CONNECTION_BUFFER_BYTES = 32 * 1024
MAX_REQUEST_HEADERS_KB = 32
# A connection with no request in flight is closed after this long (sooner
# when the connections or the heap fill up); one whose request headers do not
# all arrive within REQUEST_HEADERS_TIMEOUT_SECONDS gets 408 and is closed.
# Browsers, HTTP clients and gRPC channels reopen an idle-closed connection on
# their next call without the caller noticing, so a short timeout costs a
# caller one handshake after a pause; a socket that only holds one of the
# MAX_DOWNSTREAM_CONNECTIONS slots is gone within seconds instead of an hour.
IDLE_TIMEOUT_SECONDS = 10
REQUEST_HEADERS_TIMEOUT_SECONDS = 10
# Verified JWTs Envoy remembers (each until it expires), as each service does.
VERIFIED_TOKENS_KEPT = 10_000
# How much of a caller's x-request-id the access log keeps.
MAX_REQUEST_ID_CHARS = 128
# On every reply to a caller: never sniffed as another type, never cached.
REPLY_HEADERS = [("x-content-type-options", "nosniff"), ("cache-control", "no-store")]
# HTTP status of a reply Envoy makes itself -> the gRPC code in its JSON body,
# from the error classes of mesh.errors (the same table the services answer by).
LOCAL_REPLY_CODES = local_reply_codes()


def render(settings: Settings) -> str:
    template = jinja2.Template(
        TEMPLATE.read_text(), undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    jwks = urlparse(settings.jwks_url or "")
    config: str = template.render(
        bind_host=settings.bind_host,
        gateway_port=settings.gateway_port,
        admin_port=settings.admin_port,
        upstreams=[
            *(_cluster(u.name, u.endpoints(settings), u.full_name) for u in UPSTREAMS),
            _cluster("reflection", [(settings.host, settings.reflection_port)], ""),
        ],
        services=UPSTREAMS,
        fallback_cluster=FALLBACK_CLUSTER,
        read_methods=READ_METHODS,
        stream_methods=STREAM_METHODS,
        stream_idle_timeout_seconds=STREAM_IDLE_TIMEOUT_SECONDS,
        internal_headers=INTERNAL_HEADERS,
        max_rest_body_bytes=MAX_REST_BODY_BYTES,
        max_rest_response_bytes=MAX_REST_RESPONSE_BYTES,
        max_connections=MAX_DOWNSTREAM_CONNECTIONS,
        max_heap_bytes=MAX_HEAP_BYTES,
        connection_buffer_bytes=CONNECTION_BUFFER_BYTES,
        max_request_headers_kb=MAX_REQUEST_HEADERS_KB,
        idle_timeout_seconds=IDLE_TIMEOUT_SECONDS,
        request_headers_timeout_seconds=REQUEST_HEADERS_TIMEOUT_SECONDS,
        max_request_id_chars=MAX_REQUEST_ID_CHARS,
        reply_headers_to_add=REPLY_HEADERS,
        verified_tokens_kept=VERIFIED_TOKENS_KEPT,
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
        descriptor_set=settings.descriptor_set,
        traces_endpoint=settings.traces_endpoint,
    )
    return config


def _cluster(
    name: str, endpoints: list[Endpoint], service: str
) -> tuple[str, list[Endpoint], str, str]:
    """STATIC for addresses; names are resolved (every address they have)."""
    named = any(not _is_address(host) for host, _port in endpoints)
    return (name, endpoints, service, "STRICT_DNS" if named else "STATIC")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def write(settings: Settings) -> Path:
    path = settings.data_dir / "envoy.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(settings))
    return path
