"""The REST API through the gateway as a client calls it, and the PUTs
straight to storage that a session's URLs allow."""

from typing import Any

import httpx


class Api:
    """The REST API through the gateway, as one user."""

    def __init__(self, base_url: str, token: str | None) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=20)

    def create_session(
        self, data: bytes, file_type: str = "image/jpeg", **overrides: Any
    ) -> httpx.Response:
        body = {
            "fileName": "photo.jpg",
            "fileType": file_type,
            "fileSize": len(data),
            "mediaType": "post-image",
            **overrides,
        }
        return self.http.post("/api/v1/media/upload-session", json=body)

    def complete(self, media_id: str) -> httpx.Response:
        return self.http.post(f"/api/v1/media/{media_id}/complete")

    def media(self, media_id: str) -> httpx.Response:
        return self.http.get(f"/api/v1/media/{media_id}")

    def upload(
        self, data: bytes, file_type: str = "image/jpeg", **overrides: Any
    ) -> dict[str, Any]:
        """Session, PUT to storage, complete: the whole single-PUT flow."""
        session = self.create_session(data, file_type, **overrides)
        assert session.status_code == 200, session.text
        put(session.json(), data)
        completed = self.complete(session.json()["mediaId"])
        assert completed.status_code == 200, completed.text
        media: dict[str, Any] = completed.json()
        return media

    def complete_multipart(
        self, media_id: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> httpx.Response:
        body = {"uploadId": upload_id, "parts": [{"partNumber": n, "etag": e} for n, e in parts]}
        return self.http.post(f"/api/v1/media/{media_id}/complete-multipart", json=body)

    def parts(self, media_id: str, marker: int = 0) -> httpx.Response:
        params = {"partNumberMarker": marker} if marker else {}
        return self.http.get(f"/api/v1/media/{media_id}/parts", params=params)

    def create_post(self, content: str, media_ids: list[str]) -> httpx.Response:
        return self.http.post("/feed/submit", json={"content": content, "mediaIds": media_ids})


def put(session: dict[str, Any], data: bytes, **header_overrides: str) -> httpx.Response:
    """PUT straight to storage with the headers the session asked for."""
    headers = {**session["uploadHeaders"], **header_overrides}
    reply = httpx.put(session["uploadUrl"], content=data, headers=headers, timeout=20)
    assert reply.status_code == 200, reply.text
    return reply


def put_part(url: str, data: bytes) -> str:
    """PUT one part straight to storage; its ETag."""
    reply = httpx.put(url, content=data, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.headers["etag"]
