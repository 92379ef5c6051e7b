"""Where multipart uploads are remembered between runs, so the same command
run again after a crash or Ctrl-C carries on instead of starting over.

One small JSON file per upload under the user's cache directory
(`~/.cache/media-mesh/uploads/` on Linux), named by a hash of the file's
absolute path, size, modification time, media type and visibility: a file
edited since (new size or time) is a new upload, and so is the same file
sent private after a public try. It holds only the media id; the server
says which parts it already has.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import platformdirs

from media_client.files import LocalFile

# The server's multipart sessions last 24 h; an older record is not worth asking about.
MAX_AGE_SECONDS = 23 * 3600


def default_directory() -> Path:
    return Path(platformdirs.user_cache_dir("media-mesh")) / "uploads"


class ResumeStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_directory()

    def find(self, file: LocalFile, *, private: bool = False) -> str | None:
        """The media id of a saved upload of this very file, if any."""
        path = self._path_for(file, private)
        if path is None:
            return None
        try:
            record = json.loads(path.read_text())
            media_id, saved_at = str(record["mediaId"]), float(record["savedAt"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none, or unreadable: start afresh rather than fail
        return media_id if time.time() - saved_at < MAX_AGE_SECONDS else None

    def save(self, file: LocalFile, media_id: str, *, private: bool = False) -> None:
        path = self._path_for(file, private)
        if path is None:
            return  # a file object, not a path: nothing to find it by next time
        record = {"mediaId": media_id, "path": str(file.source.path), "savedAt": time.time()}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(record))
        os.replace(partial, path)  # whole or not at all, even if killed mid-write

    def forget(self, file: LocalFile, *, private: bool = False) -> None:
        path = self._path_for(file, private)
        if path is not None:
            path.unlink(missing_ok=True)

    def _path_for(self, file: LocalFile, private: bool) -> Path | None:
        source = file.source
        if source.path is None:
            return None
        facts = f"{source.path.resolve()}\n{source.size}\n{source.modified_ns}\n{file.media_type}"
        # Uploads saved before parts declared their checksums are not resumed:
        # their part URLs bind none, and a PUT sending one would be refused.
        facts += "\nparts-sha256"
        if private:  # a public upload keeps the name it had before visibility existed
            facts += "\nprivate"
        return self.directory / f"{hashlib.sha256(facts.encode()).hexdigest()[:32]}.json"
