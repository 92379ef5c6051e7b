"""`python -m media_client`: upload, list, get, delete, abort, post.

Each command prints its result as one JSON line on stdout (`list`: one line
per media) and anything for people on stderr: the progress bar (on a
terminal only), notices, and on failure one line saying why; the exit code
says which kind of failure it was (EXIT_CODES).

The token comes from MEDIA_TOKEN only, never a flag: a command line is
visible to every user of the machine and lands in shell history.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from media_client.client import DEFAULT_CONCURRENCY, MediaClient
from media_client.errors import (
    ApiError,
    MediaClientError,
    MissingToken,
    ProcessingFailed,
    ServiceUnavailable,
    StorageUnavailable,
)
from media_formats.media_types import MEDIA_TYPES

OK, REFUSED, USAGE, UNREACHABLE, INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES = """exit codes:
    0  done
    1  refused: by the local check, the server or storage (the reason on stderr)
    2  usage: a wrong command line, or no MEDIA_TOKEN
    3  the gateway, a service or storage unreachable after retries
  130  interrupted (Ctrl-C)
Run again, an interrupted or failed upload resumes from the parts already stored."""

EXAMPLES = {
    "upload": """examples:
  python -m media_client upload photo.jpg
  python -m media_client upload clip.mp4 --concurrency 8 --wait
  python -m media_client upload avatar.png --media-type avatar
  python -m media_client upload photo.jpg --wait --post 'At the beach'
  python -m media_client upload scan.png --private
An interrupted or failed upload resumes when the same command runs again.""",
    "list": "example:\n  python -m media_client list --page-size 20",
    "get": "example:\n  python -m media_client get 3f2a9c1e-...",
    "delete": "example:\n  python -m media_client delete 3f2a9c1e-...",
    "abort": "example:\n  python -m media_client abort 3f2a9c1e-...",
    "post": 'example:\n  python -m media_client post "Hello" 3f2a9c1e-... 7b0d4e2f-...',
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Our notices only: httpx's request lines would print presigned URLs.
    logging.basicConfig(format="%(message)s", level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("media_client").setLevel(logging.INFO)
    try:
        with MediaClient(args.gateway) as client:
            for result in args.run(client, args):
                print(json.dumps(result, separators=(",", ":")), flush=True)
    except KeyboardInterrupt:
        print("interrupted: the same command resumes the upload", file=sys.stderr, flush=True)
        # Now, not once a part blocked on a slow link gives up: what a resume
        # needs is saved already, and storage drops an unfinished PUT.
        os._exit(INTERRUPTED)
    except MissingToken as error:
        _fail(f"{error} (locally: make token USER=alice)")
        return USAGE
    except ServiceUnavailable as error:
        _fail(f"unavailable: {error.message}; the same command carries on once it is back")
        return UNREACHABLE
    except StorageUnavailable as error:
        _fail(f"{error}; the same command carries on once it is back")
        return UNREACHABLE
    except ProcessingFailed as error:
        print(json.dumps(_upload_line(_as_dict(error.media))), flush=True)
        _fail(str(error))
        return REFUSED
    except ApiError as error:
        _fail(f"refused: {error.message} ({error.code.name})")
        return REFUSED
    except MediaClientError as error:
        _fail(str(error))
        return REFUSED
    return OK


def _upload(client: MediaClient, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    with _progress_bar(args.path) as progress:
        media = client.upload(
            args.path,
            args.media_type,
            concurrency=args.concurrency,
            progress=progress,
            visibility="private" if args.private else "public",
        )
    if args.wait:
        media = client.wait_ready(media.media_id, timeout=args.wait_timeout)
    line = _upload_line(_as_dict(media))
    if args.post is not None:
        line["postId"] = client.create_post(args.post, [media.media_id]).post_id
    yield line


def _list(client: MediaClient, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    return (_as_dict(media) for media in client.list(args.page_size))


def _get(client: MediaClient, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    yield _as_dict(client.get(args.media_id))


def _delete(client: MediaClient, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    yield _as_dict(client.delete(args.media_id))


def _abort(client: MediaClient, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    yield _as_dict(client.abort(args.media_id))


def _post(client: MediaClient, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    yield _as_dict(client.create_post(args.content, args.media_ids, args.idempotency_key))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m media_client",
        description="Upload media and manage it through the media mesh's gateway. "
        "The token is read from MEDIA_TOKEN.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--gateway",
        help="the gateway URL, or host:port of a service (default MEDIA_GATEWAY, "
        "else http://127.0.0.1:8080)",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[..., Any], summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(run=run)
        return sub

    upload = command("upload", _upload, "upload a file, checked locally first; resumable")
    upload.add_argument("path")
    upload.add_argument(
        "--media-type",
        choices=list(MEDIA_TYPES),
        help="default: post-image or post-video, by the file's content",
    )
    upload.add_argument(
        "--concurrency",
        type=_positive,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"parts in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    upload.add_argument(
        "--private",
        action="store_true",
        help="keep it off the CDN: its URLs are signed, short-lived, for you and its post's readers",
    )
    upload.add_argument("--wait", action="store_true", help="wait until processed (READY)")
    upload.add_argument(
        "--wait-timeout", type=float, default=600.0, metavar="SECONDS", help=argparse.SUPPRESS
    )
    upload.add_argument("--post", metavar="TEXT", help="then post it with this text")

    listing = command("list", _list, "your media, newest first, one JSON line each")
    listing.add_argument("--page-size", type=_positive, default=50)
    for name, run, summary in (
        ("get", _get, "one media"),
        ("delete", _delete, "delete a media not attached to a post"),
        ("abort", _abort, "abort a pending upload"),
    ):
        command(name, run, summary).add_argument("media_id")
    post = command("post", _post, "create a post with media attached, all or nothing")
    post.add_argument("content")
    post.add_argument("media_ids", nargs="*", metavar="MEDIA_ID")
    post.add_argument("--idempotency-key", help="repeat a call safely (default: a fresh one)")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


@contextmanager
def _progress_bar(path: str) -> Iterator[Callable[[int, int], None] | None]:
    """A bar on stderr (bytes, rate, time left) when it is a terminal; else nothing."""
    if not sys.stderr.isatty():
        yield None
        return
    with (
        tqdm(
            desc=path, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, leave=True
        ) as bar,
        logging_redirect_tqdm(),
    ):

        def progress(sent: int, total: int) -> None:
            bar.total = total
            bar.update(sent - bar.n)

        yield progress


def _as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def _upload_line(media: dict[str, Any]) -> dict[str, Any]:
    """The upload's line, as the design fixes it: {mediaId, cdnUrl, status}."""
    return {key: media.get(key, "") for key in ("mediaId", "cdnUrl", "status")}


def _fail(line: str) -> None:
    print(f"error: {line}", file=sys.stderr)
